"""The training loop, phase by phase: collect a real step, update the agent, evaluate, checkpoint.

Exact resumption: a checkpoint holds the agent, optimizers, buffer, every RNG state and the
counters. The plant's mid-episode state is rebuilt by resetting it with the episode's seed and
replaying the episode's actions (MuJoCo is deterministic on one machine); the rebuilt
observation is compared with the saved one, so a plant that does not reproduce is an error,
not a silent divergence.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

import robots
from pipeline import checkpoint
from pipeline.buffer import ReplayBuffer, Source
from pipeline.config import RESUMABLE_CHANGES, ConfigError, TrainConfig, flat_items, sac_hyper, validate
from pipeline.sac import SACHyper, SACState, make_sac, sac_update

log = logging.getLogger("synthgate.train")
CHECKPOINT_VERSION = 1
_TRAIN_STREAM, _EVAL_STREAM, _INIT_STREAM = 0, 1, 2


def stream_seed(seed: int, stream: int, index: int) -> int:
    """A 32-bit seed for item ``index`` of random stream ``stream`` of a run seeded ``seed``."""
    return int(np.random.SeedSequence([seed, stream, index]).generate_state(1)[0])


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; anything else is taken as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r}: CUDA is not available on this machine; use device=cpu or auto")
    return torch.device(name)


@dataclass
class RunState:
    """Everything that changes during a run (and therefore goes into a checkpoint)."""

    agent: SACState
    buffer: ReplayBuffer
    np_rng: np.random.Generator
    gen_act: torch.Generator
    gen_update: torch.Generator
    step: int = 0
    updates: int = 0
    episode: int = 0
    episode_return: float = 0.0
    episode_actions: list[np.ndarray] = field(default_factory=list)
    obs: np.ndarray | None = None

    def payload(self) -> dict[str, Any]:
        """The checkpoint payload."""
        return {
            "version": CHECKPOINT_VERSION,
            "step": self.step,
            "updates": self.updates,
            "episode": self.episode,
            "episode_return": self.episode_return,
            "episode_actions": np.asarray(self.episode_actions, dtype=np.float32),
            "obs": self.obs,
            "agent": self.agent.state_dict(),
            "buffer": self.buffer.state_dict(),
            "np_rng": self.np_rng.bit_generator.state,
            "gen_act": self.gen_act.get_state(),
            "gen_update": self.gen_update.get_state(),
        }

    def restore(self, payload: dict[str, Any]) -> None:
        """Loads :meth:`payload` back."""
        if payload.get("version") != CHECKPOINT_VERSION:
            raise RuntimeError(f"checkpoint version {payload.get('version')} != {CHECKPOINT_VERSION}")
        self.step, self.updates, self.episode = payload["step"], payload["updates"], payload["episode"]
        self.episode_return = payload["episode_return"]
        self.episode_actions = list(payload["episode_actions"])
        self.obs = payload["obs"]
        self.agent.load_state_dict(payload["agent"])
        self.buffer.load_state_dict(payload["buffer"])
        self.np_rng.bit_generator.state = payload["np_rng"]
        self.gen_act.set_state(payload["gen_act"])
        self.gen_update.set_state(payload["gen_update"])


def new_state(cfg: TrainConfig, obs_dim: int, act_dim: int, device: torch.device) -> RunState:
    """A fresh run: agent weights, buffer and RNG streams, all derived from ``cfg.seed``."""
    init = torch.Generator().manual_seed(stream_seed(cfg.seed, _INIT_STREAM, 0))
    agent = make_sac(
        obs_dim,
        act_dim,
        hidden=cfg.sac.hidden,
        depth=cfg.sac.depth,
        lr_actor=cfg.sac.lr_actor,
        lr_critic=cfg.sac.lr_critic,
        lr_alpha=cfg.sac.lr_alpha,
        init_alpha=cfg.sac.init_alpha,
        log_std_min=cfg.sac.log_std_min,
        log_std_max=cfg.sac.log_std_max,
        device=device,
        generator=init,
    )
    return RunState(
        agent=agent,
        buffer=ReplayBuffer(obs_dim, act_dim, cfg.buffer_capacity, device),
        np_rng=np.random.default_rng(stream_seed(cfg.seed, _INIT_STREAM, 1)),
        gen_act=torch.Generator(device=device).manual_seed(stream_seed(cfg.seed, _INIT_STREAM, 2)),
        gen_update=torch.Generator(device=device).manual_seed(stream_seed(cfg.seed, _INIT_STREAM, 3)),
    )


# --- phases -------------------------------------------------------------------------------


def choose_action(state: RunState, cfg: TrainConfig, act_dim: int) -> np.ndarray:
    """Uniform random before ``learning_starts``, then a sample from the policy."""
    if state.step < cfg.learning_starts:
        return state.np_rng.uniform(-1.0, 1.0, act_dim).astype(np.float32)
    assert state.obs is not None
    device = state.buffer.device
    with torch.inference_mode():
        obs = torch.as_tensor(state.obs, device=device).unsqueeze(0)
        eps = torch.randn((1, act_dim), generator=state.gen_act, device=state.gen_act.device).to(device)
        act, _ = state.agent.actor.sample(obs, eps)
    return act.squeeze(0).cpu().numpy()


def collect_real_step(
    state: RunState, env: Any, cfg: TrainConfig, act_dim: int, on_episode: Callable[[int, float], None]
) -> None:
    """Steps the plant once and stores the transition as real, with its provenance."""
    act = choose_action(state, cfg, act_dim)
    next_obs, reward, terminated, truncated, _ = env.step(act)
    state.buffer.add(
        state.obs,  # type: ignore[arg-type]
        act,
        float(reward),
        next_obs,
        terminated,
        source=Source.REAL,
        origin=f"{cfg.robot}/plant",
        seed=stream_seed(cfg.seed, _TRAIN_STREAM, state.episode),
    )
    state.step += 1
    state.episode_actions.append(act)
    state.episode_return += float(reward)
    if terminated or truncated:
        on_episode(state.step, state.episode_return)
        state.episode += 1
        state.obs, _ = env.reset(seed=stream_seed(cfg.seed, _TRAIN_STREAM, state.episode))
        state.episode_actions, state.episode_return = [], 0.0
    else:
        state.obs = next_obs


def update_agent(state: RunState, cfg: TrainConfig, hp: SACHyper, totals: dict[str, torch.Tensor]) -> None:
    """``algo.utd`` SAC gradient steps on uniformly sampled replay batches."""
    for _ in range(cfg.algo.utd):
        batch = state.buffer.sample(cfg.sac.batch_size, state.gen_update)
        metrics = sac_update(state.agent, batch, state.gen_update, hp)
        state.updates += 1
        for key, value in metrics.items():
            totals[key] = totals[key] + value if key in totals else value.clone()


def evaluate(state: RunState, env: Any, cfg: TrainConfig) -> list[float]:
    """Deterministic-policy returns on the held-out evaluation seeds (the same seeds every time)."""
    device = state.buffer.device
    returns = []
    for i in range(cfg.eval_episodes):
        obs, _ = env.reset(seed=stream_seed(cfg.seed, _EVAL_STREAM, i))
        total, done = 0.0, False
        while not done:
            with torch.inference_mode():
                act = state.agent.actor.deterministic(torch.as_tensor(obs, device=device).unsqueeze(0))
            obs, reward, terminated, truncated, _ = env.step(act.squeeze(0).cpu().numpy())
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return returns


def rebuild_plant(state: RunState, env: Any, cfg: TrainConfig) -> None:
    """Brings a fresh plant to the checkpointed mid-episode state by seeded reset and replay."""
    obs, _ = env.reset(seed=stream_seed(cfg.seed, _TRAIN_STREAM, state.episode))
    for act in state.episode_actions:
        obs, *_ = env.step(act)
    if state.obs is None or not np.array_equal(obs, state.obs):
        raise RuntimeError(
            f"the plant did not reproduce the checkpointed state at step {state.step} "
            f"(episode {state.episode}, {len(state.episode_actions)} replayed actions): "
            "it is not deterministic under its seed, so the run cannot resume exactly"
        )


# --- run directory ------------------------------------------------------------------------


class RunLog:
    """TensorBoard scalars plus ``metrics.jsonl`` (evaluations and episodes) in the run directory."""

    def __init__(self, run_dir: Path, resume_step: int | None) -> None:
        self.writer = SummaryWriter(str(run_dir / "tb"), purge_step=resume_step)
        self.path = run_dir / "metrics.jsonl"
        if resume_step is not None and self.path.exists():  # drop what came after the checkpoint
            kept = [ln for ln in self.path.read_text().splitlines() if json.loads(ln)["step"] <= resume_step]
            checkpoint.atomic_write(self.path, "".join(ln + "\n" for ln in kept).encode())
        self._file = open(self.path, "a")  # noqa: SIM115 - closed in close()

    def record(self, kind: str, step: int, **values: Any) -> None:
        self._file.write(json.dumps({"kind": kind, "step": step, **values}) + "\n")
        self._file.flush()

    def scalars(self, step: int, values: dict[str, float]) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        self._file.close()
        self.writer.close()


def prepare_run_dir(cfg: TrainConfig, run_dir: Path, resuming: bool) -> None:
    """Writes ``config.yaml`` for a new run; for a resumed run, refuses a changed config."""
    path = run_dir / "config.yaml"
    current = flat_items(cfg)
    if resuming and path.exists():
        saved = yaml.safe_load(path.read_text())
        saved_flat = flat_items(saved)
        changed = sorted(
            k
            for k in set(saved_flat) | set(current)
            if k not in RESUMABLE_CHANGES and saved_flat.get(k) != current.get(k)
        )
        if changed:
            diffs = "; ".join(f"{k}: {saved_flat.get(k)!r} -> {current.get(k)!r}" for k in changed)
            raise ConfigError(
                f"{run_dir} holds a run with a different config ({diffs}); "
                f"only {sorted(RESUMABLE_CHANGES)} may change on resume. Use another run_dir."
            )
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint.atomic_write(path, yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False).encode())


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Runs (or resumes) ``synthgate train`` and returns its final summary.

    Raises:
        ConfigError: an invalid value, before any work starts.
    """
    validate(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    run_dir = Path(cfg.run_dir)
    record = robots.get(cfg.robot)
    env = robots.make(cfg.robot, **cfg.robot_settings)
    eval_env = robots.make(cfg.robot, **cfg.robot_settings)
    obs_dim, act_dim = record.layout.size, record.action_dim
    hp = sac_hyper(cfg.sac, act_dim)
    state = new_state(cfg, obs_dim, act_dim, device)

    found = checkpoint.load_latest(run_dir / "checkpoints")
    prepare_run_dir(cfg, run_dir, resuming=found is not None)
    if found is not None:
        path, payload = found
        state.restore(payload)
        rebuild_plant(state, env, cfg)
        log.info(
            "resumed %s from %s at step %d (%d transitions in the buffer)",
            run_dir,
            path.name,
            state.step,
            state.buffer.size,
        )
    else:
        state.obs, _ = env.reset(seed=stream_seed(cfg.seed, _TRAIN_STREAM, 0))
        log.info("new run %s: %s, %s, %d steps, seed %d", run_dir, cfg.robot, cfg.algo.name, cfg.steps, cfg.seed)
    runlog = RunLog(run_dir, state.step if found is not None else None)
    if found is None:
        text = yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False)
        runlog.writer.add_text("config", "```\n" + text + "```", 0)

    last_return: list[float] = [float("nan")]

    def on_episode(step: int, ret: float) -> None:
        last_return[0] = ret
        runlog.record("episode", step, episode_return=ret)
        runlog.writer.add_scalar("train/episode_return", ret, step)

    totals: dict[str, torch.Tensor] = {}
    window = (time.perf_counter(), state.step, state.updates, 0.0)
    update_time = 0.0
    start_wall = time.perf_counter()
    eval_returns: list[float] = []
    bar = tqdm(total=cfg.steps, initial=state.step, unit="step", disable=not cfg.progress, dynamic_ncols=True)
    try:
        while state.step < cfg.steps:
            collect_real_step(state, env, cfg, act_dim, on_episode)
            if state.step > cfg.learning_starts:
                t0 = time.perf_counter()
                update_agent(state, cfg, hp, totals)
                update_time += time.perf_counter() - t0
            bar.update(1)
            if state.step % cfg.log_every == 0:
                now = time.perf_counter()
                t, s, u, ut = window
                n_upd = state.updates - u
                scalars = {k: float(v) / max(n_upd, 1) for k, v in totals.items()}
                scalars["perf/env_steps_per_s"] = (state.step - s) / (now - t)
                scalars["perf/updates_per_s"] = n_upd / (now - t)
                if n_upd:
                    scalars["perf/update_ms"] = 1000.0 * (update_time - ut) / n_upd
                runlog.scalars(state.step, scalars)
                bar.set_postfix(ret=f"{last_return[0]:.1f}", upd_s=f"{scalars['perf/updates_per_s']:.0f}")
                totals, window = {}, (now, state.step, state.updates, update_time)
            if cfg.eval_every and state.step % cfg.eval_every == 0:
                eval_returns = evaluate(state, eval_env, cfg)
                mean = float(np.mean(eval_returns))
                runlog.scalars(state.step, {"eval/return_mean": mean, "eval/return_std": float(np.std(eval_returns))})
                runlog.record("eval", state.step, returns=eval_returns, return_mean=mean)
                bar.write(f"step {state.step}: eval return {mean:.1f} ± {np.std(eval_returns):.1f}")
            if state.step % cfg.checkpoint_every == 0:
                checkpoint.save(run_dir / "checkpoints", state.step, state.payload(), cfg.keep_checkpoints)
        if not eval_returns or not (cfg.eval_every and state.step % cfg.eval_every == 0):
            eval_returns = evaluate(state, eval_env, cfg)
            runlog.record("eval", state.step, returns=eval_returns, return_mean=float(np.mean(eval_returns)))
            runlog.scalars(state.step, {"eval/return_mean": float(np.mean(eval_returns))})
        if not checkpoint.list_checkpoints(run_dir / "checkpoints") or state.step % cfg.checkpoint_every:
            checkpoint.save(run_dir / "checkpoints", state.step, state.payload(), cfg.keep_checkpoints)
    finally:
        bar.close()
        runlog.close()
        env.close()
        eval_env.close()
    summary = {
        "run_dir": str(run_dir),
        "robot": cfg.robot,
        "algo": cfg.algo.name,
        "seed": cfg.seed,
        "steps": state.step,
        "updates": state.updates,
        "eval_return_mean": float(np.mean(eval_returns)),
        "eval_returns": eval_returns,
        "wall_s_this_session": time.perf_counter() - start_wall,
    }
    checkpoint.atomic_write(run_dir / "summary.json", json.dumps(summary, indent=2).encode())
    return summary
