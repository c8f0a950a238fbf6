"""Fixed-dataset world-model study (issue 3): the five model variants on the same data and budget.

Usage:
    python studies/model_study.py [--data studies/data/model_study] [--out results/model_study]
                                     [--steps 2000] [--seeds 3] [--tasks hopper-stand ...]

1. Data, made once and reused: for each task, ``synthgate train algo=sac steps=20000`` (5k uniform
   random steps, then 15k steps of a SAC policy as it learns), whose replay buffer holds 20
   episodes; plus 100 episodes of 100 steps of uniform random actions from *upright starts* (the model's
   reference pose, ``qpos0``, with zero velocity), because a standing task's reward is exactly 0
   on every state the first two kinds visit (measured: all 20k hopper-stand rewards were 0.0),
   and a reward study needs rewarded states. Saved as ``<data>/<task>.npz``.
2. Four episodes per task are the test set, never trained on: two of the SAC run's and two of the
   upright-start episodes (chosen with a fixed seed); the rest are the training data of every fit.
3. Each variant is fitted with the production ``pipeline.world_model.fit`` for the same number of
   gradient steps (early stopping and the wall-clock cap switched off), 7 members, 5 elites,
   4 x 200, per seed.
4. Test metrics: reward R² and NRMSE (overall and on rewarded states, true reward above a tenth of
   the largest), percent model error 1, 5 and 10 steps ahead on test trajectories, ensemble
   disagreement; plus the raw scale of the state and reward targets. Results append to
   ``<out>/results.jsonl`` (an interrupted study continues where it stopped); ``<out>/results.md``
   is rewritten from it.
5. Test set version 2 (issue 19, item 4) adds a second, reward-rich test set: :data:`STAND_TEST_EPISODES`
   further upright-start episodes (seeds from :data:`STAND_TEST_SEED0`, never in the data file,
   made at fit time), scored with the reward R² and NRMSE under the ``stand_`` prefix. The four-episode
   test set holds few rewarded states (``test_rewarded_share``), so a reward R² on it says little
   about the states a standing task pays for; ``stand_rewarded_share`` says how many the new one holds.
   The training data and the fits are those of version 1: rows of both versions hold the version-1
   metrics, and ``test_set`` tells them apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline import checkpoint, diagnostics
from pipeline.buffer import ReplayBuffer, Source
from pipeline.config import AlgoConfig, model_hyper
from pipeline.world_model import EnsembleDynamics, fit, make_optimizer

TASKS = ("hopper-stand", "quadruped-walk", "humanoid-stand", "cheetah-run")
VARIANTS = {
    "mbpo": {"target": "residual", "target_norm": "joint"},
    "ftfl_norm_only": {"target": "residual", "target_norm": "independent"},
    "ftfl_direct_only": {"target": "direct", "target_norm": "joint"},
    "ftfl": {"target": "direct", "target_norm": "independent"},
    "ftfl_beta_nll": {"target": "direct", "target_norm": "independent", "likelihood": "beta_nll"},
}
TEST_EPISODES = 4
UPRIGHT_EPISODES = 100
UPRIGHT_STEPS = 100  # short: a falling robot is rewarded only in its first steps
UPRIGHT_SEED0 = 1_000_000  # episode seeds of the upright-start episodes (the SAC run's are 32-bit hashes)
STAND_TEST_EPISODES = 50
STAND_TEST_SEED0 = 2_000_000  # the reward-rich test set's episodes: disjoint from every training episode
TEST_SET = 2  # version of the test sets a new row is scored on (see the module docstring, point 5)
REWARDED = 0.1  # a state is rewarded when its true reward is at least this (DMC rewards lie in [0, 1])


def upright_episodes(task: str, episodes: int, seed0: int = UPRIGHT_SEED0) -> dict[str, np.ndarray]:
    """Random-action episodes started from the reference pose (qpos0, zero velocity); episode ``i``
    has seed ``seed0 + i``, and the actions come from a generator seeded with ``seed0``."""
    import mujoco

    import robots

    env = robots.make(task, max_episode_steps=UPRIGHT_STEPS)
    rng = np.random.default_rng(0 if seed0 == UPRIGHT_SEED0 else seed0)  # 0: the data files of version 1
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("obs", "act", "rew", "next_obs", "terminated", "seed")}
    for ep in range(episodes):
        env.reset(seed=seed0 + ep)
        model, data = env.unwrapped.mj_model, env.unwrapped.mj_data  # type: ignore[attr-defined]
        data.qpos[:] = model.qpos0
        data.qvel[:] = 0.0
        mujoco.mj_forward(model, data)
        obs, *_ = env.step(np.zeros(env.action_space.shape or (), dtype=np.float32))  # observe the pose
        done = False
        while not done:
            act = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
            nxt, rew, term, trunc, _ = env.step(act)
            for key, value in zip(cols, (obs, act, rew, nxt, term, seed0 + ep), strict=True):
                cols[key].append(np.asarray(value))
            obs, done = nxt, term or trunc
    env.close()
    return {k: np.stack(v) for k, v in cols.items()}


def make_data(task: str, data: Path) -> Path:
    """Trains SAC for 20k steps on ``task`` and saves its replay buffer (once)."""
    path = data / f"{task}.npz"
    if path.exists():
        return path
    run = data / "runs" / task
    cmd = [sys.executable, "-m", "synthgate", "train", f"robot={task}", "algo=sac", "steps=20000",
           "learning_starts=5000", "eval_every=0", "eval_episodes=1", "progress=false", "seed=0",
           "checkpoint_every=20000", f"run_dir={run}"]  # fmt: skip
    print(f"[data] {task}: training SAC for 20k steps to collect data", flush=True)
    subprocess.run(cmd, check=True, capture_output=True)
    found = checkpoint.load_latest(run / "checkpoints")
    assert found is not None
    buf = found[1]["buffer"]
    upright = upright_episodes(task, UPRIGHT_EPISODES)
    data.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.concatenate([buf[k].numpy(), upright[k].astype(buf[k].numpy().dtype)]) for k in upright}
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]
    return path


def split(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, test); test is two SAC-run and two upright-start episodes (seed 1234)."""
    episodes = np.unique(arrays["seed"])
    upright = episodes[(episodes >= UPRIGHT_SEED0) & (episodes < UPRIGHT_SEED0 + UPRIGHT_EPISODES)]
    rng = np.random.default_rng(1234)
    half = TEST_EPISODES // 2
    test_eps = np.concatenate([rng.choice(np.setdiff1d(episodes, upright), half, replace=False),
                               rng.choice(upright, TEST_EPISODES - half, replace=False)])  # fmt: skip
    test = np.isin(arrays["seed"], test_eps)
    return ~test, test


def run_one(
    arrays: dict[str, np.ndarray], stand: dict[str, np.ndarray], variant: str, seed: int, steps: int
) -> dict[str, float]:
    """Fits one variant on the training episodes and scores it on the test episodes and on the
    reward-rich stand-start test set ``stand``."""
    train, test = split(arrays)
    t = {k: torch.as_tensor(v) for k, v in arrays.items()}
    obs, act, rew, nxt = t["obs"][train], t["act"][train], t["rew"][train], t["next_obs"][train]
    per_epoch = math.ceil(obs.shape[0] * 0.8 / 256)
    base = model_hyper(AlgoConfig())
    hp = dataclasses.replace(base, max_epochs=math.ceil(steps / per_epoch), patience=10**9, max_retrain_s=1e9,
                             **VARIANTS[variant])  # type: ignore[arg-type]  # fmt: skip
    torch.manual_seed(seed)
    model = EnsembleDynamics(obs.shape[1], act.shape[1], hp)
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    report = fit(model, make_optimizer(model), obs, act, rew, nxt, gen)
    seconds = time.perf_counter() - start
    te = {k: v[test] for k, v in t.items()}
    buf = ReplayBuffer(obs.shape[1], act.shape[1], int(test.sum()))
    buf.add(te["obs"], te["act"], te["rew"], te["next_obs"], te["terminated"], source=Source.REAL, origin="test",
            seed=te["seed"])  # fmt: skip
    stand_metrics = diagnostics.reward_metrics(model, *(torch.as_tensor(stand[k]) for k in ("obs", "act", "rew")))
    out = {
        **diagnostics.reward_metrics(model, te["obs"], te["act"], te["rew"]),
        **diagnostics.kstep_errors(model, buf, (1, 5, 10), 1000, torch.Generator().manual_seed(0)),
        "diag/disagreement": diagnostics.disagreement(model, te["obs"], te["act"]),
        **diagnostics.target_scales(model, obs, rew, nxt),
        "test_rewarded_share": float((te["rew"] >= REWARDED).float().mean()),
        **{f"stand_{k.removeprefix('diag/')}": v for k, v in stand_metrics.items()},
        "stand_rewarded_share": float((stand["rew"] >= REWARDED).mean()),
        "grad_steps": float(report.steps),
        "fit_s": seconds,
    }
    return {k.removeprefix("diag/"): float(v) for k, v in out.items()}


def newest(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each task's rows of its newest test-set version (see the module docstring, point 5)."""
    version = {r["task"]: max(q.get("test_set", 1) for q in rows if q["task"] == r["task"]) for r in rows}
    return [r for r in rows if r.get("test_set", 1) == version[r["task"]]]


def table(rows: list[dict[str, Any]]) -> str:
    """Mean ± std over seeds per task and variant, each task on its newest test-set version ("—":
    a metric that version does not have)."""
    cols = ["reward_rmse", "reward_nrmse", "reward_nrmse_rewarded", "reward_r2", "stand_reward_r2",
            "stand_reward_nrmse", "model_error_pct_k1", "model_error_pct_k5", "model_error_pct_k10",
            "disagreement"]  # fmt: skip
    lines = [
        "| task | test set | variant | seeds | " + " | ".join(cols)
        + " | rewarded share: test / stand test | state target std | reward target std |",
        "|---|---|---|---|" + "---|" * (len(cols) + 3),
    ]  # fmt: skip
    rows = newest(rows)
    for task in dict.fromkeys(r["task"] for r in rows):
        for variant in VARIANTS:
            sel = [r for r in rows if r["task"] == task and r["variant"] == variant]
            if not sel:
                continue
            cells = []
            for c in [*cols, "test_rewarded_share", "stand_rewarded_share"]:
                vals = np.array([float(r[c]) for r in sel if c in r])
                cells.append(f"{vals.mean():.3g} ± {vals.std():.2g}" if len(vals) else "—")
            cells[-2:] = [" / ".join(cells[-2:])]
            scale = [f"{np.mean([float(r[c]) for r in sel]):.3g}" for c in ("state_target_std", "reward_target_std")]
            head = f"| {task} | v{sel[0].get('test_set', 1)} | {variant} | {len(sel)} | "
            lines.append(head + " | ".join(cells + scale) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("studies/data/model_study"))
    p.add_argument("--out", type=Path, default=Path("results/model_study"))
    p.add_argument("--steps", type=int, default=2000, help="gradient steps per fit (the same for every variant)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--tasks", nargs="+", default=list(TASKS))
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.jsonl"
    done = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    seen = {(r["task"], r["variant"], r["seed"], r["budget"], r.get("test_set", 1)) for r in done}
    data = {task: make_data(task, args.data) for task in args.tasks}
    stand = {task: upright_episodes(task, STAND_TEST_EPISODES, STAND_TEST_SEED0) for task in args.tasks}
    for seed in range(args.seeds):  # seed-major: an interrupted study still covers every task
        for task in args.tasks:
            arrays = dict(np.load(data[task]))
            for variant in VARIANTS:
                if (task, variant, seed, args.steps, TEST_SET) in seen:
                    continue
                row = {"task": task, "variant": variant, "seed": seed, "budget": args.steps, "test_set": TEST_SET,
                       "transitions": len(arrays["obs"]),
                       **run_one(arrays, stand[task], variant, seed, args.steps)}  # fmt: skip
                print(json.dumps(row), flush=True)
                with open(results, "a") as f:
                    f.write(json.dumps(row) + "\n")
                done.append(row)
    rows = [r for r in done if r["budget"] == args.steps]
    text = (f"Generated by `python studies/model_study.py --steps {args.steps} --seeds {args.seeds}`; "
            "mean ± std over seeds; errors on 4 held-out test episodes per task, and (test set v2) reward "
            f"errors on {STAND_TEST_EPISODES} held-out upright-start episodes (`stand_`).\n\n"
            + table(rows) + "\n")  # fmt: skip
    (args.out / "results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
