"""synthgate's benchmark suite: one command, one table, one JSON file, every figure from one run.

Usage: python benchmarks/run.py [--repeats 7] [--loop-steps 1500] [--skip-loop] [--out benchmarks/results.json]

Each micro-benchmark is timed ``--repeats`` times; the table gives the median and the spread
(min–max). Fractions of peak divide the workload's matmul FLOPs (counted from the layer shapes,
forward = 2·in·out per row and layer, backward = 2× forward) by its median time and by this
machine's float32 matmul peak (torch.mm 2048), measured in the same run.

Rows:
- matmul peak (the yardstick);
- SAC update at batch 256 (2×256 actor, fused twin critics, cheetah-run shapes);
- ensemble train step (7 members × 4×200 SiLU, batch 256 per member, Gaussian NLL + decay, Adam);
- model rollout, one step from 100k starts through the ensemble's elites and the actor (chunked as in
  the loop; FLOPs counted for the elites, the members actually computed);
- the end-to-end ``ftfl`` loop on cheetah-run at the MBPO settings (UTD 20, 400 rollout starts per
  env step, retrain every 250 env steps), env steps per hour in steady state with the time split by
  phase, read back from the run's TensorBoard log.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pipeline.buffer import ReplayBuffer, Source
from pipeline.config import AlgoConfig, SACConfig, model_hyper, sac_hyper
from pipeline.model_env import ModelEnv, rollout
from pipeline.sac import make_sac, sac_update
from pipeline.world_model import EnsembleDynamics, decay_loss, make_optimizer, nll_loss

OBS, ACT = 17, 6  # cheetah-run


def timed(fn: Callable[[], Any], repeats: int, warmup: int = 2) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def mlp_flops(sizes: list[int], rows: int) -> float:
    """Forward matmul FLOPs of an MLP with layer widths ``sizes`` on ``rows`` inputs."""
    return float(sum(2 * rows * a * b for a, b in pairwise(sizes)))


def bench_matmul(repeats: int) -> dict[str, Any]:
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    times = timed(lambda: torch.mm(a, b), repeats)
    return {"times": times, "flops": 2.0 * n**3}


def bench_sac(repeats: int, batch: int = 256, inner: int = 20) -> dict[str, Any]:
    cfg = SACConfig()
    agent = make_sac(OBS, ACT, hidden=cfg.hidden, depth=cfg.depth, lr_actor=cfg.lr_actor, lr_critic=cfg.lr_critic,
                     lr_alpha=cfg.lr_alpha, init_alpha=cfg.init_alpha, log_std_min=cfg.log_std_min,
                     log_std_max=cfg.log_std_max, device=torch.device("cpu"),
                     generator=torch.Generator().manual_seed(0))  # fmt: skip
    hp = sac_hyper(cfg, ACT)
    gen = torch.Generator().manual_seed(1)
    buffer = ReplayBuffer(OBS, ACT, 10_000, torch.device("cpu"), [])
    n = buffer.capacity
    buffer.add(np.random.randn(n, OBS).astype(np.float32), np.random.uniform(-1, 1, (n, ACT)).astype(np.float32),
               np.random.randn(n).astype(np.float32), np.random.randn(n, OBS).astype(np.float32),
               np.zeros(n, dtype=bool), source=Source.REAL, origin="bench", seed=0)  # fmt: skip
    batch_t = buffer.sample(batch, gen)

    def run() -> None:
        for _ in range(inner):
            sac_update(agent, batch_t, gen, hp)

    times = [t / inner for t in timed(run, repeats, warmup=1)]
    h = cfg.hidden
    actor = mlp_flops([OBS, h, h, 2 * ACT], batch)
    critic = 2 * mlp_flops([OBS + ACT, h, h, 1], batch)
    # critic loss: actor fwd on next obs, target critics fwd, critics fwd+bwd;
    # actor loss: actor fwd+bwd, critics fwd+bwd (input gradients).
    flops = actor + critic + 3 * critic + 3 * actor + 3 * critic
    return {"times": times, "flops": flops}


def _model() -> EnsembleDynamics:
    torch.manual_seed(0)
    model = EnsembleDynamics(OBS, ACT, model_hyper(AlgoConfig()))
    return model


def bench_model_train(repeats: int, inner: int = 10) -> dict[str, Any]:
    model = _model()
    hp = model.hp
    opt = make_optimizer(model)
    b = hp.batch_size
    obs, act = torch.randn(hp.members, b, OBS), torch.rand(hp.members, b, ACT) * 2 - 1
    target = torch.randn(hp.members, b, 1 + OBS)

    def run() -> None:
        for _ in range(inner):
            loss, _ = nll_loss(model, obs, act, target)
            loss = loss + decay_loss(model)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    times = [t / inner for t in timed(run, repeats, warmup=1)]
    sizes = [OBS + ACT, *([hp.hidden] * hp.depth), 2 * (1 + OBS)]
    flops = 3 * hp.members * mlp_flops(sizes, b)
    return {"times": times, "flops": flops, "batch_per_member": b, "members": hp.members}


def bench_rollout(repeats: int, starts: int = 100_000) -> dict[str, Any]:
    model = _model()
    cfg = SACConfig()
    agent = make_sac(OBS, ACT, hidden=cfg.hidden, depth=cfg.depth, lr_actor=cfg.lr_actor, lr_critic=cfg.lr_critic,
                     lr_alpha=cfg.lr_alpha, init_alpha=cfg.init_alpha, log_std_min=cfg.log_std_min,
                     log_std_max=cfg.log_std_max, device=torch.device("cpu"),
                     generator=torch.Generator().manual_seed(0))  # fmt: skip
    env = ModelEnv(model, lambda s: torch.zeros(s.shape[0], dtype=torch.bool), drop_range_factor=1e9)
    x = torch.randn(starts, OBS)
    gen = torch.Generator().manual_seed(2)
    kept: list[int] = []

    def run() -> None:
        kept.append(rollout(env, agent.actor, x, 1, gen).counts["kept"])

    times = timed(run, repeats, warmup=1)
    hp = model.hp
    sizes = [OBS + ACT, *([hp.hidden] * hp.depth), 2 * (1 + OBS)]
    # prediction computes only the elites (pipeline.world_model.predict)
    flops = hp.elites * mlp_flops(sizes, starts) + mlp_flops([OBS, cfg.hidden, cfg.hidden, 2 * ACT], starts)
    return {"times": times, "flops": flops, "transitions": int(np.median(kept))}


def bench_loop(steps: int, learning_starts: int) -> dict[str, Any]:
    """The ``ftfl`` loop on cheetah-run at the MBPO settings, read back from TensorBoard."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable, "-m", "synthgate", "train", "robot=cheetah-run", "algo=ftfl", f"steps={steps}",
            f"learning_starts={learning_starts}", "eval_every=0", "eval_episodes=1", "log_every=250",
            "progress=false", f"checkpoint_every={steps}", f"run_dir={tmp}/run",
        ]  # fmt: skip
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        wall = time.perf_counter() - t0
        ea = EventAccumulator(f"{tmp}/run/tb")
        ea.Reload()

        # Steady state: windows that start after the first retrain at learning_starts.
        def after(tag: str) -> list[float]:
            return [e.value for e in ea.Scalars(tag) if e.step > learning_starts + 250]

        per_hour = after("perf/env_steps_per_hour")
        shares = {p: float(np.median(after(f"perf/share_{p}"))) for p in
                  ("env", "model_train", "rollout", "agent_update", "eval_log_ckpt")}  # fmt: skip
        update_ms = after("perf/update_ms")
        # CPU-time figures (logged by the loop since issue 10's second pass; absent in older trees)
        has_cpu = "perf/update_cpu_ms" in ea.Tags()["scalars"]
        cpu = {"env_steps_per_cpu_hour": after("perf/env_steps_per_cpu_hour"),
               "update_cpu_ms_median": float(np.median(after("perf/update_cpu_ms"))),
               "cpu_per_wall": after("perf/cpu_per_wall")} if has_cpu else {}  # fmt: skip
    return {
        **cpu,
        "env_steps_per_hour": per_hour,
        "phase_share_median": shares,
        "update_ms_median": float(np.median(update_ms)),
        "windows": len(per_hour),
        "wall_s": wall,
        "command": " ".join(cmd[1:]),
    }


def summarize(times: list[float]) -> dict[str, float]:
    return {"median": float(np.median(times)), "min": float(np.min(times)), "max": float(np.max(times))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--loop-steps", type=int, default=1500, help="env steps of the end-to-end loop run")
    p.add_argument("--loop-learning-starts", type=int, default=500)
    p.add_argument("--skip-loop", action="store_true")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results.json"))
    args = p.parse_args()

    result: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "threads": torch.get_num_threads(), "torch": torch.__version__},
        "repeats": args.repeats,
    }
    peak = bench_matmul(args.repeats)
    peak_gflops = peak["flops"] / float(np.median(peak["times"])) / 1e9
    rows = [("matmul peak (torch.mm 2048, float32)", f"{peak_gflops:.0f} GFLOP/s", "1.00", summarize(peak["times"]))]
    result["matmul_peak_gflops"] = peak_gflops
    for name, label, bench, unit in (
        ("sac_update", "SAC update, batch 256", bench_sac, "updates/s"),
        ("model_train_step", "ensemble train step, 7 x 256", bench_model_train, "steps/s"),
        ("model_rollout", "model rollout, 100k starts", bench_rollout, "transitions/s"),
    ):
        out = bench(args.repeats)
        med = float(np.median(out["times"]))
        rate = (out.get("transitions", 1)) / med
        fraction = out["flops"] / med / 1e9 / peak_gflops
        result[name] = {"rate": rate, "unit": unit, "fraction_of_peak": fraction, "seconds": summarize(out["times"]),
                        "gflop_per_call": out["flops"] / 1e9}  # fmt: skip
        rows.append((label, f"{rate:,.0f} {unit}", f"{fraction:.2f}", summarize(out["times"])))
    if not args.skip_loop:
        loop = bench_loop(args.loop_steps, args.loop_learning_starts)
        result["ftfl_loop"] = loop
        ph = loop["env_steps_per_hour"]
        rows.append(("ftfl loop, cheetah-run, UTD 20", f"{np.median(ph):,.0f} env steps/h", "-",
                     {"median": float(np.median(ph)), "min": float(np.min(ph)), "max": float(np.max(ph))}))  # fmt: skip
    print(f"{'benchmark':40s} {'rate (median)':>26s} {'of peak':>8s}   spread (min-max of the timed quantity)")
    for label, rate, frac, spread in rows:
        print(f"{label:40s} {rate:>26s} {frac:>8s}   {spread['min']:.4g} - {spread['max']:.4g}")
    if "ftfl_loop" in result:
        shares = ", ".join(f"{k} {v:.2f}" for k, v in result["ftfl_loop"]["phase_share_median"].items())
        print(f"ftfl loop time shares: {shares}; update {result['ftfl_loop']['update_ms_median']:.1f} ms")
        if "update_cpu_ms_median" in result["ftfl_loop"]:
            loop = result["ftfl_loop"]
            per_cpu_hour, cpu_per_wall = np.median(loop["env_steps_per_cpu_hour"]), np.median(loop["cpu_per_wall"])
            print(
                f"ftfl loop in CPU time: {per_cpu_hour:,.0f} env steps per CPU-hour; "
                f"update {loop['update_cpu_ms_median']:.1f} ms of CPU; CPU/wall {cpu_per_wall:.2f}"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
