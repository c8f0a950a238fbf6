"""The training loop with stacked seeds against the same seeds run one after another (issue 10).

Usage: python benchmarks/stacked_train.py [--seeds 4] [--rounds 2] [--learning-steps 100] [--utd 20]
                                          [--threads 2] [--out FILE]

Both variants are the real ``synthgate train`` loop, in this process: ``sequential`` is
``--seeds`` lone runs of :func:`pipeline.train.train` one after another, ``stacked`` one
:func:`pipeline.stacked_train.train_stacked` of the same seeds. Each run is cheetah-run, ``algo=sac``
at UTD ``--utd``, 1,000 random steps then ``--learning-steps`` learning steps, logged every 25
steps, no evaluation before the end. Each round runs both variants, and the one that goes first
alternates from round to round, so that load on a shared machine hits both alike.

Throughput is read back from each run's TensorBoard log, over the learning windows after the
first (the first one after the warm-up is left out): env steps per CPU-hour of the process (all
threads) and per hour of wall-clock. For ``sequential`` the total over the seeds equals one run's
rate (one run at a time); for ``stacked`` each seed's window counts its own steps over the
process's time, so the total is their sum.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pipeline.config import TrainConfig
from pipeline.stacked_train import train_stacked
from pipeline.train import train

WARMUP, LOG_EVERY = 1000, 25


def config(run_dir: Path, args: argparse.Namespace, **kw: Any) -> TrainConfig:
    cfg = TrainConfig(robot="cheetah-run", steps=WARMUP + args.learning_steps, learning_starts=WARMUP,
                      eval_every=0, eval_episodes=1, log_every=LOG_EVERY, checkpoint_every=10**9, progress=False,
                      threads=args.threads, buffer_capacity=WARMUP + args.learning_steps, run_dir=str(run_dir),
                      **kw)  # fmt: skip
    cfg.algo.utd = args.utd
    return cfg


def rates(run_dir: Path) -> dict[str, list[float]]:
    """The run's learning windows after the first: env steps per CPU-hour and per wall-clock hour."""
    ea = EventAccumulator(str(run_dir / "tb"))
    ea.Reload()
    out = {}
    for key, tag in (("cpu", "perf/env_steps_per_cpu_hour"), ("wall", "perf/env_steps_per_hour")):
        out[key] = [e.value for e in ea.Scalars(tag) if e.step > WARMUP + LOG_EVERY]
    return out


def sequential(tmp: Path, args: argparse.Namespace, seeds: list[int]) -> dict[str, Any]:
    """The seeds as lone runs, one after another: the total rate is one run's."""
    t0, c0 = time.perf_counter(), time.process_time()
    per_seed = []
    for s in seeds:
        train(config(tmp / f"lone-{s}", args, seed=s))
        per_seed.append(rates(tmp / f"lone-{s}"))
    return {
        "env_steps_per_cpu_hour": float(np.median([x for w in per_seed for x in w["cpu"]])),
        "env_steps_per_hour": float(np.median([x for w in per_seed for x in w["wall"]])),
        "whole_runs_wall_s": time.perf_counter() - t0, "whole_runs_cpu_s": time.process_time() - c0,
        "windows": per_seed,
    }  # fmt: skip


def stacked(tmp: Path, args: argparse.Namespace, seeds: list[int]) -> dict[str, Any]:
    """The seeds stacked in one run: window by window, the seeds' steps add up."""
    t0, c0 = time.perf_counter(), time.process_time()
    train_stacked(config(tmp / "stacked", args, stacked_seeds=seeds))
    windows = [rates(tmp / "stacked" / f"seed-{s}") for s in seeds]
    return {
        "env_steps_per_cpu_hour": float(np.median(np.sum([w["cpu"] for w in windows], axis=0))),
        "env_steps_per_hour": float(np.median(np.sum([w["wall"] for w in windows], axis=0))),
        "whole_runs_wall_s": time.perf_counter() - t0, "whole_runs_cpu_s": time.process_time() - c0,
        "windows": windows,
    }  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--learning-steps", type=int, default=100)
    p.add_argument("--utd", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    if args.learning_steps < 2 * LOG_EVERY:
        p.error(f"--learning-steps must be >= {2 * LOG_EVERY}: the first window after the warm-up is left out")
    seeds = list(range(args.seeds))
    result: dict[str, Any] = {"args": vars(args) | {"out": str(args.out)}, "load_average_start": os.getloadavg(),
                              "torch_threads": args.threads, "rounds": []}  # fmt: skip
    for r in range(args.rounds):
        row: dict[str, Any] = {"first": "sequential" if r % 2 == 0 else "stacked"}
        with tempfile.TemporaryDirectory() as tmp:
            order = [sequential, stacked] if r % 2 == 0 else [stacked, sequential]
            for variant in order:
                row[variant.__name__] = variant(Path(tmp), args, seeds)
        for clock in ("env_steps_per_cpu_hour", "env_steps_per_hour"):
            row[f"ratio_{clock}"] = row["stacked"][clock] / row["sequential"][clock]
        result["rounds"].append(row)
        print(f"round {r + 1}: sequential {row['sequential']['env_steps_per_cpu_hour']:,.0f} vs stacked "
              f"{row['stacked']['env_steps_per_cpu_hour']:,.0f} env steps per CPU-hour "
              f"({row['ratio_env_steps_per_cpu_hour']:.2f}x); wall-clock "
              f"{row['sequential']['env_steps_per_hour']:,.0f} vs {row['stacked']['env_steps_per_hour']:,.0f} "
              f"per hour ({row['ratio_env_steps_per_hour']:.2f}x)",
              flush=True)  # fmt: skip
    for clock in ("env_steps_per_cpu_hour", "env_steps_per_hour"):
        result[f"median_ratio_{clock}"] = float(np.median([row[f"ratio_{clock}"] for row in result["rounds"]]))
    result["load_average_end"] = os.getloadavg()
    result["torch_version"] = torch.__version__
    print(f"median over rounds: {result['median_ratio_env_steps_per_cpu_hour']:.2f}x per CPU-hour, "
          f"{result['median_ratio_env_steps_per_hour']:.2f}x per wall-clock hour; load average "
          f"{result['load_average_start']} -> {result['load_average_end']}")  # fmt: skip
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
