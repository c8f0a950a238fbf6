"""Synthetic transitions per second: the corrected sim (``sim_residual``), the pure world model and
the plant itself, at 1 and 2 threads, measured in one run (issue 31).

    PYTHONPATH=. python benchmarks/synthetic_sources.py [--robot Hopper-v5] [--rows 2000] [--repeats 5]
        [--out results/performance/synthetic_sources.json]

What each makes per call, from ``--rows`` real states and actions (one control step each, the unit
of a one-step branched rollout):

* ``plant``: ``--rows`` steps of the real plant (``robots.make(robot, gap="default")``), one
  ``env.step`` after another, as a real panel or an oracle source steps it;
* ``sim``: the sim from the same states, all rows at once (``mujoco.rollout``, its threads);
* ``model``: the pure world model (5 members of 3 x 200, the elites' mean);
* ``sim_residual``: the sim's step plus the correction network (the same network shape).

Threads: torch's intra-op threads and ``mujoco.rollout``'s threads are both set to the count.
Variants are timed round-robin so load changes hit all alike; the table gives each one's median
transitions per second and its ratio to the plant at the same thread count. The networks are
untrained (timing does not depend on the weights).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def rates(
    opts: argparse.Namespace, threads: int, env: object, obs: np.ndarray, act: np.ndarray, hp: object
) -> dict[str, list[float]]:
    """Transitions per second of every variant at ``threads`` threads, one list entry per repeat."""
    import robots
    from pipeline.sim_residual import SimResidual
    from pipeline.world_model import EnsembleDynamics

    torch.set_num_threads(threads)
    record = robots.get(opts.robot)
    pure = EnsembleDynamics(record.layout.size, record.action_dim, hp).eval()  # type: ignore[arg-type]
    hybrid = SimResidual(opts.robot, hp, threads=threads)  # type: ignore[arg-type]
    ot, at = torch.as_tensor(obs), torch.as_tensor(act)
    plant_env: Any = env

    def plant() -> None:
        plant_env.reset(seed=1)
        for i in range(opts.rows):
            _, _, term, _, _ = plant_env.step(act[i])
            if term:
                plant_env.reset(seed=i)

    def model() -> None:
        with torch.no_grad():
            mean, logvar = pure.raw(ot, at, members=pure.elite_idx)
            pure.decode(ot, mean, logvar)

    variants: dict[str, Callable[[], object]] = {
        "plant": plant,
        "sim": lambda: hybrid.stepper.step(obs, act),
        "model": model,
        "sim_residual": lambda: hybrid.predict(obs, act),
    }
    for fn in variants.values():
        fn()  # warm up
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(opts.repeats):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: [opts.rows / t for t in ts] for name, ts in times.items()}


def main() -> int:
    import robots
    from pipeline.config import ALGORITHMS, DEFAULT_WORLD_MODEL, AlgoConfig, model_hyper

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--robot", default="Hopper-v5")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    opts = parser.parse_args()
    env = robots.make(opts.robot, gap="default")
    rng = np.random.default_rng(0)
    obs_rows, act_rows = [], []
    o, _ = env.reset(seed=0)
    for t in range(opts.rows):
        a = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        obs_rows.append(o)
        act_rows.append(a)
        o, _, term, trunc, _ = env.step(a)
        if term or trunc:
            o, _ = env.reset(seed=t + 1)
    obs, act = np.asarray(obs_rows, dtype=np.float32), np.asarray(act_rows, dtype=np.float32)
    hp = model_hyper(ALGORITHMS[DEFAULT_WORLD_MODEL].model_of(DEFAULT_WORLD_MODEL, AlgoConfig()))
    hp = dataclasses.replace(hp, members=5, elites=3, hidden=200, depth=3, weight_decay=hp.weight_decay[-4:])
    out: dict[str, dict[str, list[float]]] = {}
    for threads in (1, 2):
        out[str(threads)] = rates(opts, threads, env, obs, act, hp)
        base = statistics.median(out[str(threads)]["plant"])
        for name, per_s in out[str(threads)].items():
            med = statistics.median(per_s)
            print(f"threads {threads}  {name:14s} {med:10.0f} transitions/s  x{med / base:6.2f} of the plant")
    if opts.out is not None:
        summary = {"robot": opts.robot, "rows": opts.rows, "repeats": opts.repeats, "model": "5 x 3x200, elites 3",
                   "per_s": out, "median_per_s": {t: {n: statistics.median(r) for n, r in v.items()}
                                                  for t, v in out.items()}}  # fmt: skip
        opts.out.write_text(json.dumps(summary, indent=1) + "\n")
        print(f"wrote {opts.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
