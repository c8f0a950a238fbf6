"""A/B of ReLU out of place (before) and in place (now, ``pipeline.nets.InplaceReLU``) in the SAC update.

Usage: python benchmarks/ab_relu.py [--seeds 1] [--repeats 10]

``--seeds 1``: one agent of :mod:`pipeline.sac` (actor and twin critics); ``--seeds S > 1``: a
stacked agent of S seeds (:mod:`pipeline.multiseed`). One process, one thread, two agents from the
same weights on the same batches and noise, timed alternately in CPU time
(``time.process_time``); at the end their weights are compared (bitwise equal: ReLU computes the
same values either way).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from ab_multiseed import ACT, BATCH, agents, random_buffer, stacked_of

from pipeline.buffer import Batch
from pipeline.config import SACConfig, sac_hyper
from pipeline.multiseed import StackedSAC, stack_batches, stacked_sac_update
from pipeline.nets import InplaceReLU
from pipeline.sac import SACHyper, SACState, sac_update


def out_of_place(*nets: nn.Module) -> None:
    """Turns every in-place ReLU of ``nets`` into an out-of-place one (the code before the change)."""
    for net in nets:
        for m in net.modules():
            if isinstance(m, InplaceReLU):
                m.inplace = False


def single_run(agent: SACState, batches: list[Batch], gen: torch.Generator, hp: SACHyper) -> Callable[[], None]:
    def run() -> None:
        for b in batches:
            sac_update(agent, b, gen, hp)

    return run


def stacked_run(
    stacked: StackedSAC, batches: list[Batch], gens: list[torch.Generator], hp: SACHyper
) -> Callable[[], None]:
    def run() -> None:
        for b in batches:
            stacked_sac_update(stacked, b, gens, hp)

    return run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--repeats", type=int, default=10)
    args = p.parse_args()
    torch.set_num_threads(1)
    seeds, hp = args.seeds, sac_hyper(SACConfig(), ACT)
    buffers = [random_buffer(s) for s in range(seeds)]
    draw = [torch.Generator().manual_seed(100 + s) for s in range(seeds)]
    names = ("out of place (before)", "in place (now)")
    gens = {k: [torch.Generator().manual_seed(s) for s in range(seeds)] for k in names}
    runs: dict[str, Callable[[], None]] = {}
    actors: dict[str, nn.Module] = {}
    if seeds == 1:
        batches = [buffers[0].sample(BATCH, draw[0]) for _ in range(20)]
        for name in names:
            agent = agents(1)[0]
            if name == names[0]:
                out_of_place(agent.actor, agent.critic, agent.critic_target)
            actors[name] = agent.actor
            runs[name] = single_run(agent, batches, gens[name][0], hp)
    else:
        stacked_batches = [stack_batches([buffers[s].sample(BATCH, draw[s]) for s in range(seeds)]) for _ in range(10)]
        for name in names:
            stacked = stacked_of(seeds)
            if name == names[0]:
                out_of_place(stacked.actor, stacked.critic, stacked.critic_target)
            actors[name] = stacked.actor
            runs[name] = stacked_run(stacked, stacked_batches, gens[name], hp)
    per_call = (20 if seeds == 1 else 10) * seeds
    times: dict[str, list[float]] = {k: [] for k in names}
    for rep in range(args.repeats + 1):
        for name in names:
            c = time.process_time()
            runs[name]()
            if rep:
                times[name].append((time.process_time() - c) / per_call)
    for name, ts in times.items():
        print(f"{name:22s} {1e3 * np.median(ts):6.2f} ms CPU per seed-update (min {1e3 * min(ts):.2f})")
    old_ms, new_ms = (float(np.median(times[n])) for n in names)
    print(f"{seeds} seed(s): speed-up in place over out of place: {old_ms / new_ms:.3f}x")
    pairs = zip(actors[names[0]].parameters(), actors[names[1]].parameters(), strict=True)
    print("actor weights bitwise equal after the run:", all(torch.equal(x, y) for x, y in pairs))


if __name__ == "__main__":
    main()
