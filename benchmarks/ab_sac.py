"""A/B timing of the SAC update in one process: Adam ``foreach`` (before issue 10) against Adam
``fused`` (one kernel per optimizer step), at 1 and at 2 threads.

Usage: python benchmarks/ab_sac.py [--repeats 7] [--inner 20] [--threads 1 2]

Two agents start from identical weights and see the same batches and noise; variants are timed
alternately (round-robin) so load on a shared machine hits them alike. After the timing the two
agents' parameters are compared (fused and foreach Adam round differently, so expect closeness,
not bitwise equality).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from pipeline.buffer import ReplayBuffer, Source
from pipeline.config import SACConfig, sac_hyper
from pipeline.sac import SACState, make_sac, sac_update

OBS, ACT = 17, 6


def agent(fused: bool) -> SACState:
    cfg = SACConfig()
    state = make_sac(OBS, ACT, hidden=cfg.hidden, depth=cfg.depth, lr_actor=cfg.lr_actor, lr_critic=cfg.lr_critic,
                     lr_alpha=cfg.lr_alpha, init_alpha=cfg.init_alpha, log_std_min=cfg.log_std_min,
                     log_std_max=cfg.log_std_max, device=torch.device("cpu"),
                     generator=torch.Generator().manual_seed(0))  # fmt: skip
    if not fused:  # the optimizers as they were before issue 10
        state.actor_opt = torch.optim.Adam(state.actor.parameters(), lr=cfg.lr_actor, foreach=True)
        state.critic_opt = torch.optim.Adam(state.critic.parameters(), lr=cfg.lr_critic, foreach=True)
        state.alpha_opt = torch.optim.Adam([state.log_alpha], lr=cfg.lr_alpha, foreach=True)
    return state


def maxdiff(states: dict[str, SACState]) -> float:
    pairs = zip(states["foreach"].actor.parameters(), states["fused"].actor.parameters(), strict=True)
    return max(float((a - b).detach().abs().max()) for a, b in pairs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--inner", type=int, default=20)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts to time")
    args = p.parse_args()
    cfg = SACConfig()
    hp = sac_hyper(cfg, ACT)
    buffer = ReplayBuffer(OBS, ACT, 10_000, torch.device("cpu"), [])
    n = buffer.capacity
    rng = np.random.default_rng(0)
    buffer.add(rng.standard_normal((n, OBS)).astype(np.float32), rng.uniform(-1, 1, (n, ACT)).astype(np.float32),
               rng.standard_normal(n).astype(np.float32), rng.standard_normal((n, OBS)).astype(np.float32),
               np.zeros(n, dtype=bool), source=Source.REAL, origin="bench", seed=0)  # fmt: skip
    batches = [buffer.sample(256, torch.Generator().manual_seed(i)) for i in range(args.inner)]
    one = {"foreach": agent(False), "fused": agent(True)}
    for s in one.values():
        sac_update(s, batches[0], torch.Generator().manual_seed(1), hp)
    print(f"after 1 identical update: max |actor weight difference| foreach vs fused = {maxdiff(one):.2e}")
    states = {"foreach": agent(False), "fused": agent(True)}
    gens = {k: torch.Generator().manual_seed(1) for k in states}
    variants = [(f"Adam {k}, {t} thread(s)", k, t) for t in args.threads for k in states]
    times: dict[str, list[float]] = {v[0]: [] for v in variants}
    cpu: dict[str, list[float]] = {v[0]: [] for v in variants}
    for rep in range(args.repeats + 1):
        for name, key, threads in variants:
            torch.set_num_threads(threads)
            t0, c0 = time.perf_counter(), time.process_time()
            for b in batches:
                sac_update(states[key], b, gens[key], hp)
            if rep:  # the first round is warm-up
                times[name].append((time.perf_counter() - t0) / args.inner)
                cpu[name].append((time.process_time() - c0) / args.inner)
    diff = maxdiff(states)
    steps = (args.repeats + 1) * 2 * args.inner
    print(
        f"after {steps} identical updates (chaotic growth of rounding differences): "
        f"max |actor weight difference| foreach vs fused = {diff:.2e}"
    )
    base = float(np.median(times[variants[0][0]]))
    base_cpu = float(np.median(cpu[variants[0][0]]))
    print(f"{'variant':28s} {'median ms':>10s} {'min-max ms':>15s} {'speed-up':>9s} {'CPU ms':>8s} {'CPU x':>6s}")
    for name, ts in times.items():
        med, med_cpu = float(np.median(ts)), float(np.median(cpu[name]))
        print(f"{name:28s} {1e3 * med:10.2f} {1e3 * min(ts):6.2f}-{1e3 * max(ts):6.2f} {base / med:9.2f} "
              f"{1e3 * med_cpu:8.2f} {base_cpu / med_cpu:6.2f}")  # fmt: skip
    print("CPU: this process's CPU seconds (all threads), the figure to trust on a loaded machine; wall-clock")
    print("moves with the load, and a one-thread run right after a two-thread one can pay for the idle worker.")


if __name__ == "__main__":
    main()
