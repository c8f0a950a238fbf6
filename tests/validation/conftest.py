"""Runs for the gate's acceptance tests, built in seconds on Hopper-v5 (short panels, tiny networks).

* baseline: an untrained actor (it tips over within ~60 steps);
* better candidate: an actor of the same shape pre-trained by behaviour cloning of a joint PD
  controller that keeps the hopper standing, with a small world model fitted on real plant
  transitions of both behaviours (nominal and under the payload scenario);
* shortcut candidate: another untrained actor, with that world model corrupted so the hopper's
  pitch and height are pinned upright: the targeted failure (``tipped``) never happens in its
  synthetic rollouts.

Every run is a real run directory (``config.yaml`` and a checkpoint written by
``pipeline.checkpoint`` from ``pipeline.train.new_state``), so the gate loads it the way it loads a
trained run. The gate's verdicts come from the plant panels: nothing here sets a panel result.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

import helpers as sft
import numpy as np
import pytest
import torch
import yaml

import robots
import scenarios
from pipeline import checkpoint
from pipeline.config import AlgoConfig, ModelConfig, SACConfig, TrainConfig, model_hyper
from pipeline.run_state import new_state
from pipeline.sac import Actor
from pipeline.world_model import EnsembleDynamics, fit, make_optimizer

ROBOT = "Hopper-v5"
HORIZON = 150
LAYOUT = robots.get(ROBOT).layout


def tip_scenarios() -> list[scenarios.Scenario]:
    """Two hopper scenarios that target ``tipped`` (Hopper-v5 ends an episode on tipping)."""
    return [sft.payload(), sft.weak_thigh()]


def pd_stand(obs: np.ndarray) -> np.ndarray:
    """Joint PD towards the straight pose: the hopper stands on its foot."""
    q, qd = obs[..., 2:5], obs[..., 8:11]
    return np.clip(-5.0 * q - 0.5 * qd, -1.0, 1.0).astype(np.float32)


def train_config(run_dir: Path, seed: int) -> TrainConfig:
    model = ModelConfig(
        members=3, elites=2, hidden=64, depth=2, weight_decay=[0.0, 0.0, 0.0], max_epochs=60, max_retrain_s=30.0
    )
    return TrainConfig(
        robot=ROBOT,
        algo=AlgoConfig(name="ftfl", model_based=True, model=model),
        sac=SACConfig(hidden=32, depth=2),
        seed=seed,
        run_dir=str(run_dir),
        buffer_capacity=10,
        robot_settings={"max_episode_steps": HORIZON},
        scenarios=[],
    )


def collect(policy: Any, episodes: int, seed: int, noise: float) -> list[np.ndarray]:
    """Plant transitions under ``policy`` plus Gaussian action noise, nominal and under the scenarios."""
    rng = np.random.default_rng(seed)
    rows: list[list[np.ndarray]] = [[], [], [], []]
    plants = [robots.make(ROBOT, max_episode_steps=HORIZON)] + [
        s.make(max_episode_steps=HORIZON) for s in tip_scenarios()
    ]
    for k in range(episodes):
        env = plants[k % len(plants)]
        obs, _ = env.reset(seed=10_000 + seed * 1000 + k)
        done = False
        while not done:
            act = np.clip(policy(obs) + rng.normal(0, noise, 3), -1, 1).astype(np.float32)
            nxt, rew, term, trunc, _ = env.step(act)
            for store, v in zip(rows, (obs, act, rew, nxt), strict=True):
                store.append(np.asarray(v, dtype=np.float32))
            obs, done = nxt, term or trunc
    for env in plants:
        env.close()
    return [np.stack(r) for r in rows]


def clone(target: Any, obs: np.ndarray, seed: int) -> Actor:
    """Behaviour cloning: the actor's mode regressed onto ``target``'s actions."""
    torch.manual_seed(seed)
    actor = Actor(LAYOUT.size, 3, 32, 2, -5.0, 2.0)
    x = torch.as_tensor(obs)
    y = torch.as_tensor(target(obs))
    opt = torch.optim.Adam(actor.parameters(), lr=3e-3)
    for _ in range(1500):
        loss = (actor.deterministic(x) - y).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return actor


def untrained(seed: int) -> Actor:
    torch.manual_seed(seed)
    return Actor(LAYOUT.size, 3, 32, 2, -5.0, 2.0)


def fitted_model(cfg: TrainConfig, data: list[np.ndarray]) -> EnsembleDynamics:
    torch.manual_seed(0)
    model = EnsembleDynamics(LAYOUT.size, 3, model_hyper(cfg.algo))
    obs, act, rew, nxt = (torch.as_tensor(a) for a in data)
    fit(
        model,
        make_optimizer(model),
        obs,
        act,
        rew.squeeze(-1) if rew.dim() > 1 else rew,
        nxt,
        torch.Generator().manual_seed(0),
    )
    return model


def corrupt_upright(model: EnsembleDynamics) -> EnsembleDynamics:
    """Pins the predicted next rootz and rooty to the standing pose with (almost) no variance."""
    bad = EnsembleDynamics(model.obs_dim, model.act_dim, model.hp)
    bad.load_state_dict(model.state_dict())
    out = 1 + model.obs_dim
    last = bad.layers[-1]
    with torch.no_grad():
        for obs_col, value in ((LAYOUT.slice("position").start, 1.25), (LAYOUT.slice("position").start + 1, 0.0)):
            j = 1 + obs_col
            last.weight[:, :, j] = 0.0
            last.bias[:, :, j] = (value - bad.targets.mean[j]) / bad.targets.std[j]
            last.weight[:, :, out + j] = 0.0
            last.bias[:, :, out + j] = -30.0
    return bad


def write_run(
    run_dir: Path, cfg: TrainConfig, actor: Actor, model: EnsembleDynamics | None, real: int, synthetic: int
) -> Path:
    """A run directory as ``synthgate train`` leaves it, holding these weights and ledger counts."""
    cfg = dataclasses.replace(cfg, run_dir=str(run_dir))
    state = new_state(cfg, LAYOUT.size, 3, torch.device("cpu"))
    state.agent.actor.load_state_dict(actor.state_dict())
    if model is not None:
        assert "model" in state.sources, f"algo={cfg.algo.name} has no world model to hold the given one"
        state.sources["model"].model.load_state_dict(model.state_dict())  # type: ignore[attr-defined]
    else:
        state.sources.pop("model", None)
    state.ledger.consumed = Counter({("real", f"{ROBOT}/plant"): real, ("synthetic", "model/test"): synthetic})
    state.ledger.generated = Counter({("real", f"{ROBOT}/plant"): real, ("synthetic", "model/test"): synthetic})
    state.step = real
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False))
    checkpoint.save(run_dir / "checkpoints", state.step, state.payload(), keep=1)
    return run_dir


@pytest.fixture(scope="session")
def hopper_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("hopper_runs")
    cfg = train_config(root, 0)
    baseline = untrained(1)
    stand = collect(pd_stand, 12, 0, 0.3)
    candidate = clone(pd_stand, stand[0], 0)
    fall = collect(lambda o: baseline.deterministic(torch.as_tensor(o)).detach().numpy(), 24, 1, 0.3)
    data = [np.concatenate([a, b]) for a, b in zip(stand, fall, strict=True)]
    model = fitted_model(cfg, data)
    baseline_cfg = dataclasses.replace(cfg, algo=AlgoConfig(name="sac"))
    return {
        "baseline": write_run(root / "baseline", baseline_cfg, baseline, None, 5000, 0),
        "better": write_run(root / "better", cfg, candidate, model, 5000, 5000),
        "shortcut": write_run(root / "shortcut", cfg, untrained(2), corrupt_upright(model), 5000, 5000),
    }
