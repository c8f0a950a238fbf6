"""A/B of the stacked multi-seed update with the ReLU out of place (before) and in place (now).

Usage: python benchmarks/ab_stacked_relu.py [--seeds 4] [--repeats 8]

One process, one thread, two stacked agents from the same weights on the same batches and noise,
timed alternately in CPU time (``time.process_time``); at the end their weights are compared
(bitwise equal: ReLU computes the same values either way).
"""

from __future__ import annotations

import argparse
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from ab_multiseed import ACT, BATCH, random_buffer, stacked_of

from pipeline.config import SACConfig, sac_hyper
from pipeline.multiseed import stack_batches, stacked_sac_update
from pipeline.nets import EnsembleMLP


def out_of_place_forward(self: EnsembleMLP, x: torch.Tensor) -> torch.Tensor:
    """``EnsembleMLP.forward`` with a fresh tensor per activation (the code before the change)."""
    for layer in self.layers[:-1]:
        x = torch.relu(layer(x))
    out: torch.Tensor = self.layers[-1](x)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--repeats", type=int, default=8)
    args = p.parse_args()
    torch.set_num_threads(1)
    seeds, hp = args.seeds, sac_hyper(SACConfig(), ACT)
    agents = {"out of place (before)": stacked_of(seeds), "in place (now)": stacked_of(seeds)}
    before = agents["out of place (before)"]
    for net in (before.actor.net, before.critic.net, before.critic_target.net):
        net.forward = types.MethodType(out_of_place_forward, net)  # type: ignore[method-assign]
    buffers = [random_buffer(s) for s in range(seeds)]
    draw = [torch.Generator().manual_seed(100 + s) for s in range(seeds)]
    batches = [stack_batches([buffers[s].sample(BATCH, draw[s]) for s in range(seeds)]) for _ in range(10)]
    gens = {k: [torch.Generator().manual_seed(s) for s in range(seeds)] for k in agents}
    times: dict[str, list[float]] = {k: [] for k in agents}
    for rep in range(args.repeats + 1):
        for name, agent in agents.items():
            c = time.process_time()
            for b in batches:
                stacked_sac_update(agent, b, gens[name], hp)
            if rep:
                times[name].append((time.process_time() - c) / len(batches) / seeds)
    for name, ts in times.items():
        print(f"{name:22s} {1e3 * np.median(ts):6.2f} ms CPU per seed-update (min {1e3 * min(ts):.2f})")
    old_ms, new_ms = (float(np.median(t)) for t in times.values())
    print(f"speed-up in place over out of place: {old_ms / new_ms:.3f}x")
    pairs = zip(before.actor.parameters(), agents["in place (now)"].actor.parameters(), strict=True)
    print("actor weights bitwise equal after the run:", all(torch.equal(x, y) for x, y in pairs))


if __name__ == "__main__":
    main()
