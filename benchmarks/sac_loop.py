"""SAC loop throughput on cheetah-run at batch 256, read back from the run's TensorBoard log.

Usage: python benchmarks/sac_loop.py [--steps 6000] [--learning-starts 1000] [--out DIR]
Runs ``synthgate train`` (UTD 1, batch 256, 2x256 networks) and prints the median and spread of
``perf/updates_per_s`` and ``perf/update_ms`` over the log windows after learning starts, plus
the bare update's fraction of this machine's float32 matmul peak (torch.mm 2048, measured here).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def matmul_peak_gflops(n: int = 2048, repeats: int = 10) -> float:
    """Median float32 torch.mm throughput in GFLOP/s."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t)
    return 2 * n**3 / float(np.median(times)) / 1e9


def sac_update_flops(obs: int = 17, act: int = 6, hidden: int = 256, batch: int = 256) -> float:
    """Approximate FLOPs of one update: forward+backward (3x forward) of every matmul it runs."""

    def mlp(i: int, o: int) -> int:
        return 2 * batch * (i * hidden + hidden * hidden + hidden * o)

    critic = 2 * mlp(obs + act, 1)
    actor = mlp(obs, 2 * act)
    # critic loss: actor fwd (next), target critic fwd, critic fwd+bwd; actor loss: actor fwd+bwd,
    # critic fwd+bwd (input grads only, counted as full).
    return actor + critic + 3 * critic + 3 * actor + 3 * critic


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--learning-starts", type=int, default=1000)
    p.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable, "-m", "synthgate", "train", "robot=cheetah-run", "algo=sac", f"steps={args.steps}",
            f"learning_starts={args.learning_starts}", "eval_every=0", "eval_episodes=1", "log_every=500",
            "progress=false", f"checkpoint_every={args.steps}", f"run_dir={tmp}/run",
        ]  # fmt: skip
        subprocess.run(cmd, check=True, capture_output=True)
        ea = EventAccumulator(f"{tmp}/run/tb")
        ea.Reload()
        ups = [e.value for e in ea.Scalars("perf/updates_per_s") if e.step > args.learning_starts + 500]
        ms = [e.value for e in ea.Scalars("perf/update_ms") if e.step > args.learning_starts + 500]
    peak = matmul_peak_gflops()
    fraction = sac_update_flops() / (float(np.median(ms)) / 1000) / 1e9 / peak
    result = {
        "loop_updates_per_s_median": float(np.median(ups)),
        "loop_updates_per_s_min": float(np.min(ups)),
        "loop_updates_per_s_max": float(np.max(ups)),
        "update_ms_median": float(np.median(ms)),
        "windows": len(ups),
        "matmul_peak_gflops": peak,
        "update_fraction_of_peak": fraction,
        "threads": torch.get_num_threads(),
    }
    print(
        f"SAC loop, cheetah-run, batch 256, UTD 1: {result['loop_updates_per_s_median']:.1f} updates/s "
        f"(median of {len(ups)} windows of 500 steps; min {result['loop_updates_per_s_min']:.1f}, "
        f"max {result['loop_updates_per_s_max']:.1f})\n"
        f"bare update {result['update_ms_median']:.2f} ms = {100 * fraction:.0f}% of the "
        f"{peak:.0f} GFLOP/s float32 matmul peak ({result['threads']} threads)"
    )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
