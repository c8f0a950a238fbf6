"""The loop's agent-update phase (``pipeline.train.update_agent``), measured in one process.

Usage: python benchmarks/ab_update_agent.py [--checkpoint RUN/checkpoints] [--repeats 9] [--out FILE]

Three parts, all on the ftfl cheetah-run loop's state (UTD 20, batch 256, real ratio 0.05): with
``--checkpoint``, a real run's agent, optimizers and buffers (e.g. made by ``synthgate train
robot=cheetah-run algo=ftfl steps=1500 learning_starts=500 checkpoint_every=500 run_dir=RUN``);
without it, a fresh agent and buffers filled with random transitions (1,500 real, 100,000
synthetic: the sizes of that run at step 1,500).

1. Where the phase's time goes: the CPU time (this thread) and wall-clock of each part of one
   update: mixer sampling, ``sac_update``, the fault check, the ledger, the metric sums.
2. Before against after issue 10's bookkeeping changes (``ReplayBuffer.gather`` with
   ``index_select``, the ledger's ``on_batch``, ``accumulate``): two copies of the same state, one
   env step's worth of updates (UTD 20) alternately, then a check that both copies end bitwise
   identical (agent, ledger, metric sums, generator).
3. Adam ``foreach`` against ``fused`` on this state (bare ``sac_update`` on fixed batches), CPU
   time and wall-clock: what the optimizer change buys inside the loop.

CPU time is the figure to compare on a shared machine: the wall-clock per update doubles when
another process holds the core, the CPU time barely moves.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline import checkpoint
from pipeline.buffer import _FIELDS, Batch, ReplayBuffer, Source
from pipeline.config import AlgoConfig, TrainConfig, sac_hyper
from pipeline.ledger import Ledger
from pipeline.mixer import Mixer
from pipeline.run_state import RunState, new_state
from pipeline.sac import SACHyper, sac_update
from pipeline.train import accumulate, update_agent

OBS, ACT = 17, 6  # cheetah-run


# --- the code before issue 10's bookkeeping changes, kept here as the A/B's reference ----------


def _gather_before(buffer: ReplayBuffer, n: int, generator: torch.Generator) -> Batch:
    idx = torch.randint(0, buffer.size, (n,), generator=generator, device=generator.device).to(buffer.device)
    return Batch(**{f: getattr(buffer, f)[idx] for f in _FIELDS})  # advanced indexing


def _mix_before(mixer: Mixer, real: ReplayBuffer, syn: ReplayBuffer, generator: torch.Generator) -> Batch:
    parts = [_gather_before(syn, mixer.batch_size - mixer.n_real, generator)]
    if mixer.n_real:
        parts.insert(0, _gather_before(real, mixer.n_real, generator))
    return Batch(**{f: torch.cat([getattr(p, f) for p in parts]) for f in Batch.__dataclass_fields__})


def _on_batch_before(ledger: Ledger, source: torch.Tensor, origin: torch.Tensor, origins: list[str]) -> float:
    n_origins = len(origins)
    keys = source.to(torch.int64) * n_origins + origin.to(torch.int64)
    counts = torch.bincount(keys, minlength=len(Source) * n_origins)
    if ledger._pending is None or ledger._pending.numel() != counts.numel():
        ledger._flush()
        ledger._pending, ledger._pending_origins = counts, list(origins)
    else:
        ledger._pending += counts
    share = float(counts[n_origins:].sum()) / max(int(source.numel()), 1)
    ledger.batches += 1
    ledger.share_sum += share
    ledger.last_share = share
    return share


def update_agent_before(
    state: RunState, cfg: TrainConfig, hp: SACHyper, mixer: Mixer, totals: dict[str, torch.Tensor]
) -> None:
    for _ in range(cfg.algo.utd):
        batch = _mix_before(mixer, state.buffer, state.sources["model"].pool, state.gen_update)
        metrics = sac_update(state.agent, batch, state.gen_update, hp)
        if not state.faults.agent_step(metrics, state):
            continue
        share = _on_batch_before(state.ledger, batch.source, batch.origin, state.buffer.origins)
        metrics["ledger/batch_synthetic_share"] = torch.tensor(share)
        state.updates += 1
        for key, value in metrics.items():
            totals[key] = totals[key] + value if key in totals else value.clone()


# --- state ------------------------------------------------------------------------------------


def loop_config() -> TrainConfig:
    return TrainConfig(robot="cheetah-run", algo=AlgoConfig(name="ftfl", utd=20, model_based=True), seed=0)


def make_state(cfg: TrainConfig, payload: dict[str, Any] | None) -> RunState:
    state = new_state(cfg, OBS, ACT, torch.device("cpu"))
    if payload is not None:
        # A deep copy: Optimizer.load_state_dict keeps the given tensors (no copy), so two states
        # restored from one payload would share their Adam moments.
        state.restore(copy.deepcopy(payload))
        return state
    rng, pool = np.random.default_rng(0), state.sources["model"].pool
    for buf, n, source, origin in ((state.buffer, 1500, Source.REAL, "cheetah-run/plant"),
                                   (pool, 100_000, Source.SYNTHETIC, "model/random")):  # fmt: skip
        buf.add(rng.standard_normal((n, OBS)).astype(np.float32), rng.uniform(-1, 1, (n, ACT)).astype(np.float32),
                rng.standard_normal(n).astype(np.float32), rng.standard_normal((n, OBS)).astype(np.float32),
                np.zeros(n, dtype=bool), source=source, origin=origin, seed=0)  # fmt: skip
    return state


def stats(xs: list[float]) -> dict[str, float]:
    return {"median_ms": 1e3 * float(np.median(xs)), "min_ms": 1e3 * min(xs), "max_ms": 1e3 * max(xs)}


def alternate(variants: dict[str, Callable[[], int]], repeats: int) -> dict[str, dict[str, dict[str, float]]]:
    """Round-robin timing; each call returns how many updates it made. The first round is warm-up."""
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    wall: dict[str, list[float]] = {k: [] for k in variants}
    for rep in range(repeats + 1):
        for name, fn in variants.items():
            w, c = time.perf_counter(), time.thread_time()
            n = fn()
            if rep:
                cpu[name].append((time.thread_time() - c) / n)
                wall[name].append((time.perf_counter() - w) / n)
    return {k: {"cpu": stats(cpu[k]), "wall": stats(wall[k])} for k in variants}


# --- parts ------------------------------------------------------------------------------------


def breakdown(state: RunState, cfg: TrainConfig, mixer: Mixer, updates: int) -> dict[str, dict[str, float]]:
    """Part 1: the parts of ``update_agent`` (as it is now), timed one by one."""
    hp = sac_hyper(cfg.sac, ACT)
    parts = ("sample", "sac_update", "faults", "ledger", "metric_sums")
    cpu, wall = dict.fromkeys(parts, 0.0), dict.fromkeys(parts, 0.0)
    totals: dict[str, torch.Tensor] = {}

    def tick(part: str, t: tuple[float, float]) -> tuple[float, float]:
        w, c = time.perf_counter(), time.thread_time()
        wall[part] += w - t[0]
        cpu[part] += c - t[1]
        return w, c

    for _ in range(updates):
        t = time.perf_counter(), time.thread_time()
        batch = mixer.sample(state.buffer, state.pools(), state.gen_update)
        t = tick("sample", t)
        metrics = sac_update(state.agent, batch, state.gen_update, hp)
        t = tick("sac_update", t)
        state.faults.agent_step(metrics, state)
        t = tick("faults", t)
        metrics["ledger/batch_synthetic_share"] = torch.tensor(
            state.ledger.on_batch(batch.source, batch.origin, state.buffer.origins)
        )
        t = tick("ledger", t)
        accumulate(totals, metrics)
        tick("metric_sums", t)
    total = sum(cpu.values())
    return {p: {"cpu_ms": 1e3 * cpu[p] / updates, "wall_ms": 1e3 * wall[p] / updates, "cpu_share": cpu[p] / total}
            for p in parts}  # fmt: skip


def same(a: RunState, b: RunState, ta: dict[str, torch.Tensor], tb: dict[str, torch.Tensor]) -> dict[str, bool]:
    sa, sb = a.agent.state_dict(), b.agent.state_dict()
    nets = all(torch.equal(sa[n][k], sb[n][k]) for n in ("actor", "critic", "critic_target") for k in sa[n])
    return {
        "agent_weights_bitwise": nets and torch.equal(sa["log_alpha"], sb["log_alpha"]),
        "ledger": a.ledger.state_dict() == b.ledger.state_dict(),
        "metric_sums_bitwise": ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta),
        "generator": torch.equal(a.gen_update.get_state(), b.gen_update.get_state()),
        "updates": a.updates == b.updates,
    }


def before_after(payload: dict[str, Any] | None, cfg: TrainConfig, mixer: Mixer, repeats: int) -> dict[str, Any]:
    """Part 2."""
    hp = sac_hyper(cfg.sac, ACT)
    states = {"before": make_state(cfg, payload), "after": make_state(cfg, payload)}
    totals: dict[str, dict[str, torch.Tensor]] = {"before": {}, "after": {}}

    def run(name: str) -> Callable[[], int]:
        fn = update_agent_before if name == "before" else update_agent

        def call() -> int:
            fn(states[name], cfg, hp, mixer, totals[name])
            return cfg.algo.utd

        return call

    times = alternate({k: run(k) for k in states}, repeats)
    return {"times": times, "identical": same(states["before"], states["after"], totals["before"], totals["after"])}


def optimizers(payload: dict[str, Any] | None, cfg: TrainConfig, mixer: Mixer, repeats: int) -> dict[str, Any]:
    """Part 3: the same state with Adam foreach (before issue 10) and fused (now)."""
    hp = sac_hyper(cfg.sac, ACT)
    states = {"foreach": make_state(cfg, payload), "fused": make_state(cfg, payload)}
    agent = states["foreach"].agent
    for name in ("actor_opt", "critic_opt", "alpha_opt"):
        old = getattr(agent, name)
        new = torch.optim.Adam(old.param_groups[0]["params"], lr=old.param_groups[0]["lr"], foreach=True)
        saved = old.state_dict()
        saved["param_groups"][0].update(fused=None, foreach=True)
        new.load_state_dict(saved)
        setattr(agent, name, new)
    s = states["fused"]
    assert s.synthetic is not None
    gen = torch.Generator().manual_seed(3)
    batches = [mixer.sample(s.buffer, s.pools(), gen) for _ in range(cfg.algo.utd)]
    gens = {k: torch.Generator().manual_seed(7) for k in states}

    def run(name: str) -> Callable[[], int]:
        def call() -> int:
            for b in batches:
                sac_update(states[name].agent, b, gens[name], hp)
            return len(batches)

        return call

    return {"times": alternate({k: run(k) for k in states}, repeats)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=None, help="a run's checkpoints directory (latest is used)")
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--breakdown-updates", type=int, default=200)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    cfg = loop_config()
    payload = None
    if args.checkpoint is not None:
        found = checkpoint.load_latest(args.checkpoint)
        if found is None:
            raise SystemExit(f"--checkpoint {args.checkpoint}: no checkpoint there")
        payload = found[1]
    mixer = Mixer(cfg.algo.real_ratio, cfg.sac.batch_size)
    result: dict[str, Any] = {
        "state": f"checkpoint step {payload['step']}" if payload else "fresh agent, random buffers",
        "load_average_start": os.getloadavg(),
    }
    result["breakdown"] = breakdown(make_state(cfg, payload), cfg, mixer, args.breakdown_updates)
    print(f"1. update_agent's parts, per update ({result['state']}):")
    for part, row in result["breakdown"].items():
        print(f"   {part:12s} cpu {row['cpu_ms']:7.3f} ms ({row['cpu_share']:.3f})   wall {row['wall_ms']:7.3f} ms")
    for key, fn in (("before_after", before_after), ("optimizers", optimizers)):
        result[key] = fn(payload, cfg, mixer, args.repeats)
        times = result[key]["times"]
        names = list(times)
        print(f"{'2' if key == 'before_after' else '3'}. {' vs '.join(names)}, ms per update (median, min-max):")
        for n in names:
            c, w = times[n]["cpu"], times[n]["wall"]
            print(f"   {n:8s} cpu {c['median_ms']:6.2f} ({c['min_ms']:.2f}-{c['max_ms']:.2f})"
                  f"   wall {w['median_ms']:6.2f} ({w['min_ms']:.2f}-{w['max_ms']:.2f})")  # fmt: skip
        a, b = names
        ratio = times[a]["cpu"]["median_ms"] / times[b]["cpu"]["median_ms"]
        ratio_w = times[a]["wall"]["median_ms"] / times[b]["wall"]["median_ms"]
        result[key]["speedup_cpu"], result[key]["speedup_wall"] = ratio, ratio_w
        print(f"   speed-up {b} over {a}: cpu {ratio:.3f}x, wall {ratio_w:.3f}x")
        if "identical" in result[key]:
            print(f"   identical after the run: {result[key]['identical']}")
    result["load_average_end"] = os.getloadavg()
    print(f"load average: start {result['load_average_start']}, end {result['load_average_end']}")
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
