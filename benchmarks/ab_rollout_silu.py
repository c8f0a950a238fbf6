"""A/B of the model rollout in one process: ``EnsembleDynamics.raw`` with its SiLU out of place (as
it is) against in place (tried in issue 10, not adopted: no gain), at several chunk sizes.

Usage: PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/ab_rollout_silu.py [--repeats 5] [--starts 100000]

A one-step rollout of ``--starts`` random starts through MBPO's ensemble (7 x 4 x 200, 5 elites,
the disagreement recorded as training rollouts do) under SAC's 2 x 256 actor, cheetah-run sizes.
A torch.profiler run (chunk 5,000) put SiLU at 20% of the rollout's CPU time: each hidden
layer's activation writes a new ``[5, 5000, 200]`` tensor (20 MB) instead of reusing the matmul's
output; this A/B asks whether writing it in place pays. Variants are timed alternately in CPU time of this process; the
rollouts' transitions are compared, and must be bitwise equal.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch
from torch.nn import functional as F

from benchmarks.ab_rollout import OBS, rollout_setup
from pipeline import world_model
from pipeline.model_env import rollout


class _InPlaceSiLU:
    """Stands in for ``torch.nn.functional`` inside :mod:`pipeline.world_model` during the tried
    variant: ``silu`` writes over its input, everything else is passed through."""

    def __getattr__(self, name: str) -> Any:
        return getattr(F, name)

    @staticmethod
    def silu(x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        return F.silu(x, inplace=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--starts", type=int, default=100_000)
    p.add_argument("--chunks", type=int, nargs="+", default=[2_500, 5_000])
    args = p.parse_args()
    torch.set_num_threads(1)
    _, actor, env = rollout_setup()
    x = torch.randn(args.starts, OBS)

    def run(in_place: bool, chunk: int) -> Any:
        world_model.F = _InPlaceSiLU() if in_place else F  # type: ignore[assignment]
        try:
            return rollout(env, actor, x, 1, torch.Generator().manual_seed(2), chunk=chunk)
        finally:
            world_model.F = F

    a, b = run(False, args.chunks[0]), run(True, args.chunks[0])
    same = all(torch.equal(u, v) for u, v in ((a.obs, b.obs), (a.next_obs, b.next_obs), (a.rew, b.rew)))
    print(f"in-place vs out-of-place SiLU: rollouts bitwise equal: {same}")
    pair = (("SiLU out of place (as is)", False), ("SiLU in place (tried)", True))
    variants = [(f"{name}, chunk {c}", in_place, c) for c in args.chunks for name, in_place in pair]
    times: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    for r in range(args.repeats + 1):
        for name, in_place, chunk in variants:
            c0 = time.process_time()
            run(in_place, chunk)
            if r:  # the first round warms up
                times[name].append(time.process_time() - c0)
    base = statistics.median(times[variants[0][0]])
    print(f"{'variant':40s} {'CPU s':>7s} {'min-max':>13s} {'speed-up':>8s} {'transitions/CPU-s':>18s}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:40s} {med:7.3f} {min(ts):6.3f}-{max(ts):6.3f} {base / med:8.2f} {args.starts / med:18,.0f}")


if __name__ == "__main__":
    main()
