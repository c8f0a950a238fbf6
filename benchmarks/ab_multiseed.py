"""Several seeds in one process: S stacked seeds (pipeline.multiseed) against S seeds one after another.

Usage: python benchmarks/ab_multiseed.py [--seeds 2 4 8] [--repeats 7] [--loop-steps 10] [--threads 1] [--keep-heap]
                                         [--out FILE]

One process, ``--threads`` torch threads (default 1), variants timed alternately (round-robin)
so that load on a shared machine hits them alike. Every figure is given in this process's CPU time
(``time.process_time``, all threads) and in wall-clock.

1. The SAC update at cheetah-run sizes (obs 17, act 6, 2 x 256, batch 256 per seed), one update of
   every seed per round, each seed sampling its own batch from its own buffer: ``sequential`` is S
   agents of :mod:`pipeline.sac` updated one after another (what S runs one after another do),
   ``stacked`` is one :class:`pipeline.multiseed.StackedSAC` (sampling, stacking and the update).
2. An SAC training loop on dm_control cheetah-run at UTD 20 (``--loop-steps`` env steps per round
   and seed, after a warm-up that fills each seed's buffer with 1,000 random steps): per env step,
   act (policy sample), step the plant, store the transition, then 20 updates. ``sequential`` runs
   the S seeds' loops one after another; ``stacked`` acts for all S plants with one batched actor
   call and updates all S seeds at once. The figure is total env steps per hour over the S seeds.
   The world model (ftfl) is not part of it: it still runs one seed per process.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import robots
from pipeline.buffer import Batch, ReplayBuffer, Source
from pipeline.config import SACConfig, sac_hyper
from pipeline.multiseed import StackedSAC, stack_agents, stack_batches, stacked_sac_update
from pipeline.sac import SACState, make_sac, sac_update

OBS, ACT, BATCH, UTD = 17, 6, 256, 20


def agents(seeds: int) -> list[SACState]:
    cfg = SACConfig()
    return [
        make_sac(OBS, ACT, hidden=cfg.hidden, depth=cfg.depth, lr_actor=cfg.lr_actor, lr_critic=cfg.lr_critic,
                 lr_alpha=cfg.lr_alpha, init_alpha=cfg.init_alpha, log_std_min=cfg.log_std_min,
                 log_std_max=cfg.log_std_max, device=torch.device("cpu"), generator=torch.Generator().manual_seed(s))
        for s in range(seeds)
    ]  # fmt: skip


def stacked_of(seeds: int) -> StackedSAC:
    cfg = SACConfig()
    return stack_agents(agents(seeds), cfg.lr_actor, cfg.lr_critic, cfg.lr_alpha)


def random_buffer(seed: int, n: int = 10_000) -> ReplayBuffer:
    rng = np.random.default_rng(seed)
    buf = ReplayBuffer(OBS, ACT, n)
    buf.add(rng.standard_normal((n, OBS)).astype(np.float32), rng.uniform(-1, 1, (n, ACT)).astype(np.float32),
            rng.standard_normal(n).astype(np.float32), rng.standard_normal((n, OBS)).astype(np.float32),
            np.zeros(n, dtype=bool), source=Source.REAL, origin="bench", seed=seed)  # fmt: skip
    return buf


def alternate(variants: dict[str, Callable[[], int]], repeats: int) -> dict[str, dict[str, Any]]:
    """Round-robin; each call returns its unit count (seed-updates or env steps). First round: warm-up."""
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    wall: dict[str, list[float]] = {k: [] for k in variants}
    for rep in range(repeats + 1):
        for name, fn in variants.items():
            w, c = time.perf_counter(), time.process_time()
            n = fn()
            if rep:
                cpu[name].append((time.process_time() - c) / n)
                wall[name].append((time.perf_counter() - w) / n)
    return {k: {"cpu_s_per_unit": cpu[k], "wall_s_per_unit": wall[k]} for k in variants}


def med(xs: list[float]) -> float:
    return float(np.median(xs))


def bench_update(seeds: int, repeats: int, inner: int = 5) -> dict[str, Any]:
    hp = sac_hyper(SACConfig(), ACT)
    singles, stacked = agents(seeds), stacked_of(seeds)
    buffers = [random_buffer(s) for s in range(seeds)]
    gens = {"sequential": [torch.Generator().manual_seed(s) for s in range(seeds)],
            "stacked": [torch.Generator().manual_seed(s) for s in range(seeds)]}  # fmt: skip

    def sequential() -> int:
        for _ in range(inner):
            for s in range(seeds):
                g = gens["sequential"][s]
                sac_update(singles[s], buffers[s].sample(BATCH, g), g, hp)
        return inner * seeds

    def stacked_round() -> int:
        for _ in range(inner):
            g = gens["stacked"]
            batch = stack_batches([buffers[s].sample(BATCH, g[s]) for s in range(seeds)])
            stacked_sac_update(stacked, batch, g, hp)
        return inner * seeds

    return alternate({"sequential": sequential, "stacked": stacked_round}, repeats)


class _Plants:
    """S cheetah-run plants with their buffers (one per seed)."""

    def __init__(self, seeds: int) -> None:
        self.envs = [robots.make("cheetah-run") for _ in range(seeds)]
        self.buffers = [ReplayBuffer(OBS, ACT, 100_000) for _ in range(seeds)]
        self.obs = [np.asarray(env.reset(seed=s)[0], dtype=np.float32) for s, env in enumerate(self.envs)]
        rng = np.random.default_rng(0)
        for s in range(seeds):
            for _ in range(1000):
                self.step(s, rng.uniform(-1, 1, ACT).astype(np.float32))

    def step(self, s: int, act: np.ndarray) -> None:
        nxt, rew, terminated, truncated, _ = self.envs[s].step(act)
        nxt = np.asarray(nxt, dtype=np.float32)
        self.buffers[s].add(self.obs[s], act, float(rew), nxt, terminated, source=Source.REAL, origin="p", seed=s)
        self.obs[s] = np.asarray(self.envs[s].reset()[0], dtype=np.float32) if terminated or truncated else nxt


def bench_loop(seeds: int, repeats: int, steps: int) -> dict[str, Any]:
    hp = sac_hyper(SACConfig(), ACT)
    singles, stacked = agents(seeds), stacked_of(seeds)
    plants = {"sequential": _Plants(seeds), "stacked": _Plants(seeds)}
    gens = {"sequential": [torch.Generator().manual_seed(s) for s in range(seeds)],
            "stacked": [torch.Generator().manual_seed(s) for s in range(seeds)]}  # fmt: skip

    def sequential() -> int:
        p, g = plants["sequential"], gens["sequential"]
        for s in range(seeds):  # seed after seed, as separate runs would
            for _ in range(steps):
                with torch.inference_mode():
                    eps = torch.randn((1, ACT), generator=g[s])
                    act, _ = singles[s].actor.sample(torch.as_tensor(p.obs[s]).unsqueeze(0), eps)
                p.step(s, act.squeeze(0).numpy())
                for _ in range(UTD):
                    sac_update(singles[s], p.buffers[s].sample(BATCH, g[s]), g[s], hp)
        return steps * seeds

    def stacked_loop() -> int:
        p, g = plants["stacked"], gens["stacked"]
        for _ in range(steps):
            with torch.inference_mode():
                eps = torch.stack([torch.randn((1, ACT), generator=gen) for gen in g])
                acts, _ = stacked.actor.sample(torch.as_tensor(np.stack(p.obs)).unsqueeze(1), eps)
            for s in range(seeds):
                p.step(s, acts[s, 0].numpy())
            for _ in range(UTD):
                batch: Batch = stack_batches([p.buffers[s].sample(BATCH, g[s]) for s in range(seeds)])
                stacked_sac_update(stacked, batch, g, hp)
        return steps * seeds

    return alternate({"sequential": sequential, "stacked": stacked_loop}, repeats)


def report(name: str, times: dict[str, dict[str, Any]], unit: str, per_hour: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for clock in ("cpu", "wall"):
        seq, stk = med(times["sequential"][f"{clock}_s_per_unit"]), med(times["stacked"][f"{clock}_s_per_unit"])
        row = {"sequential_ms": 1e3 * seq, "stacked_ms": 1e3 * stk, "ratio": seq / stk}
        if per_hour:
            row.update(sequential_per_hour=3600 / seq, stacked_per_hour=3600 / stk)
        out[clock] = row
        extra = f", {3600 / seq:,.0f} vs {3600 / stk:,.0f} {unit}/h" if per_hour else ""
        print(f"  {name:26s} {clock:4s}: sequential {1e3 * seq:7.2f} ms, stacked {1e3 * stk:7.2f} ms per {unit}"
              f"  -> stacked {seq / stk:.2f}x{extra}")  # fmt: skip
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[2, 4, 8])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--loop-steps", type=int, default=10, help="env steps per seed per timed round (0: no loop)")
    p.add_argument("--loop-seeds", type=int, nargs="+", default=[4])
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads for both variants")
    keep = ("glibc mallopt: mmap threshold 64 MiB, trim threshold 256 MiB, for the whole process (both variants): "
            "freed activations stay in the heap instead of being faulted in again")  # fmt: skip
    p.add_argument("--keep-heap", action="store_true", help=keep)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.keep_heap:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # glibc malloc.h
        if not (libc.mallopt(m_mmap_threshold, 64 << 20) and libc.mallopt(m_trim_threshold, 256 << 20)):
            raise SystemExit("--keep-heap: glibc's mallopt refused the thresholds")
    result: dict[str, Any] = {"threads": torch.get_num_threads(), "keep_heap": args.keep_heap,
                              "load_average_start": os.getloadavg(), "update": {}, "loop": {}}  # fmt: skip
    print("1. SAC update, batch 256 per seed (per seed-update):")
    for s in args.seeds:
        times = bench_update(s, args.repeats)
        result["update"][str(s)] = {"summary": report(f"{s} seeds", times, "seed-update", False), "raw": times}
    if args.loop_steps:
        print("2. SAC loop on cheetah-run at UTD 20 (per env step, all seeds):")
        for s in args.loop_seeds:
            times = bench_loop(s, args.repeats, args.loop_steps)
            result["loop"][str(s)] = {"summary": report(f"{s} seeds", times, "env step", True), "raw": times}
    result["load_average_end"] = os.getloadavg()
    print(f"load average: start {result['load_average_start']}, end {result['load_average_end']}")
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
