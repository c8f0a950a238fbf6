"""How the cost of the MBPO loop's parts grows with ensemble size, batch, UTD and observation size.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/cost_growth.py [--repeats 3] \
        [--out results/performance/cost_growth.json] [--plot docs/img/cost_growth.png]

Four sweeps, each varying one thing from the MBPO defaults at cheetah-run's sizes (obs 17, act 6):

* ensemble size: one ensemble train step (Gaussian NLL + decay, Adam) at 256 rows per member,
  for 1, 3, 5, 7, 10 and 14 members;
* batch: the ensemble train step (7 members) and one SAC update, at 64 to 1,024 rows;
* UTD: CPU time per real env step of an SAC loop on the cheetah-run plant (plant step, buffer
  write, then ``utd`` x (batch sampling + SAC update)), for UTD 1, 5, 10 and 20;
* observation size: the ensemble train step and the SAC update at the observation widths of
  synthgate's robots (cartpole 5, cheetah 17, walker 24, humanoid 67, quadruped 78, Ant 105).

Every figure is CPU time of this process (``time.process_time``, one thread), the median of
``--repeats`` rounds, so load from other tenants of a shared machine does not enter it. Weights and
data are random: the cost of these computations does not depend on their values.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import robots
from pipeline.buffer import ReplayBuffer, Source
from pipeline.config import AlgoConfig, ModelConfig, SACConfig, model_hyper, sac_hyper
from pipeline.sac import SACState, make_sac, sac_update
from pipeline.world_model import EnsembleDynamics, decay_loss, make_optimizer, nll_loss

OBS, ACT = 17, 6
OBS_SIZES = {"cartpole": 5, "cheetah": 17, "walker": 24, "humanoid": 67, "quadruped": 78, "Ant": 105}


def cpu_time(fn: Callable[[], Any], repeats: int, inner: int) -> float:
    """Median CPU seconds per call of ``fn`` over ``repeats`` rounds of ``inner`` calls (one warm-up round)."""
    out = []
    for r in range(repeats + 1):
        c0 = time.process_time()
        for _ in range(inner):
            fn()
        if r:
            out.append((time.process_time() - c0) / inner)
    return statistics.median(out)


def model_step(obs: int, members: int, batch: int, repeats: int) -> float:
    torch.manual_seed(0)
    model_cfg = dataclasses.replace(ModelConfig(), members=members, elites=min(5, members), batch_size=batch)
    cfg = dataclasses.replace(AlgoConfig(), model=model_cfg)
    model = EnsembleDynamics(obs, ACT, model_hyper(cfg))
    opt = make_optimizer(model)
    x, a = torch.randn(members, batch, obs), torch.rand(members, batch, ACT) * 2 - 1
    target = torch.randn(members, batch, 1 + obs)

    def run() -> None:
        loss, _ = nll_loss(model, x, a, target)
        loss = loss + decay_loss(model)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return cpu_time(run, repeats, inner=10)


def agent(obs: int) -> SACState:
    cfg = SACConfig()
    return make_sac(obs, ACT, hidden=cfg.hidden, depth=cfg.depth, lr_actor=cfg.lr_actor, lr_critic=cfg.lr_critic,
                    lr_alpha=cfg.lr_alpha, init_alpha=cfg.init_alpha, log_std_min=cfg.log_std_min,
                    log_std_max=cfg.log_std_max, device=torch.device("cpu"),
                    generator=torch.Generator().manual_seed(0))  # fmt: skip


def filled_buffer(obs: int, n: int = 10_000) -> ReplayBuffer:
    buffer = ReplayBuffer(obs, ACT, n, torch.device("cpu"), [])
    rng = np.random.default_rng(0)
    buffer.add(rng.standard_normal((n, obs)).astype(np.float32), rng.uniform(-1, 1, (n, ACT)).astype(np.float32),
               rng.standard_normal(n).astype(np.float32), rng.standard_normal((n, obs)).astype(np.float32),
               np.zeros(n, dtype=bool), source=Source.REAL, origin="bench", seed=0)  # fmt: skip
    return buffer


def sac_step(obs: int, batch: int, repeats: int) -> float:
    state, hp = agent(obs), sac_hyper(SACConfig(), ACT)
    gen = torch.Generator().manual_seed(1)
    b = filled_buffer(obs).sample(batch, gen)
    return cpu_time(lambda: sac_update(state, b, gen, hp), repeats, inner=10)


def loop_step(utd: int, repeats: int, steps: int = 20) -> float:
    """CPU seconds per real env step of an SAC loop on the cheetah-run plant at this UTD."""
    state, hp = agent(OBS), sac_hyper(SACConfig(), ACT)
    gen = torch.Generator().manual_seed(1)
    buffer = filled_buffer(OBS, 20_000)
    env = robots.make("cheetah-run", max_episode_steps=1000)
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)

    def one() -> None:
        nonlocal obs
        with torch.no_grad():
            act = state.actor.deterministic(torch.as_tensor(obs, dtype=torch.float32)[None])[0].numpy()
        act = np.clip(act + 0.1 * rng.standard_normal(ACT).astype(np.float32), -1, 1)
        nxt, rew, term, trunc, _ = env.step(act)
        buffer.add(obs[None], act[None], np.array([rew], np.float32), nxt[None], np.array([term]),
                   source=Source.REAL, origin="bench", seed=0)  # fmt: skip
        obs = env.reset()[0] if term or trunc else nxt
        for _ in range(utd):
            sac_update(state, buffer.sample(256, gen), gen, hp)

    out = cpu_time(one, repeats, inner=steps)
    env.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", help="write the figures as JSON here")
    p.add_argument("--plot", help="write the four panels as a PNG here")
    args = p.parse_args()
    torch.set_num_threads(1)
    r = args.repeats
    res: dict[str, Any] = {}
    res["members"] = {m: model_step(OBS, m, 256, r) for m in (1, 3, 5, 7, 10, 14)}
    print("ensemble train step vs members (ms):", {k: round(v * 1e3, 2) for k, v in res["members"].items()})
    batches = (64, 128, 256, 512, 1024)
    res["batch_model"] = {b: model_step(OBS, 7, b, r) for b in batches}
    res["batch_sac"] = {b: sac_step(OBS, b, r) for b in batches}
    print("ensemble train step vs rows per member (ms):", {k: round(v * 1e3, 2) for k, v in res["batch_model"].items()})
    print("SAC update vs batch (ms):", {k: round(v * 1e3, 2) for k, v in res["batch_sac"].items()})
    res["utd"] = {u: loop_step(u, r) for u in (1, 5, 10, 20)}
    print("SAC loop, CPU ms per env step vs UTD:", {k: round(v * 1e3, 2) for k, v in res["utd"].items()})
    res["obs_model"] = {n: model_step(d, 7, 256, r) for n, d in OBS_SIZES.items()}
    res["obs_sac"] = {n: sac_step(d, 256, r) for n, d in OBS_SIZES.items()}
    print("ensemble train step vs obs size (ms):", {k: round(v * 1e3, 2) for k, v in res["obs_model"].items()})
    print("SAC update vs obs size (ms):", {k: round(v * 1e3, 2) for k, v in res["obs_sac"].items()})
    meta = {
        "seconds": "CPU seconds per call (per env step for utd), median of repeats, 1 thread",
        "obs_sizes": OBS_SIZES, "repeats": r, "torch": torch.__version__, "machine": platform.machine(),
        "cpu_count": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "command": "PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/cost_growth.py " + " ".join(sys.argv[1:]),
    }  # fmt: skip
    out = {"meta": meta, **{k: {str(kk): vv for kk, vv in v.items()} for k, v in res.items()}}
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    if args.plot:
        plot(res, Path(args.plot))


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 4, figsize=(15, 3.4))
    m = res["members"]
    ax[0].plot(list(m), [v * 1e3 for v in m.values()], "o-")
    ax[0].set(xlabel="ensemble members", ylabel="CPU ms", title="ensemble train step (256 rows/member)")
    for key, label in (("batch_model", "ensemble step (7 members)"), ("batch_sac", "SAC update")):
        ax[1].loglog(list(res[key]), [v * 1e3 for v in res[key].values()], "o-", label=label)
    ax[1].set(xlabel="batch (rows per member)", ylabel="CPU ms", title="batch")
    ax[1].legend(fontsize=8)
    u = res["utd"]
    ax[2].plot(list(u), [v * 1e3 for v in u.values()], "o-")
    ax[2].set(xlabel="UTD (updates per env step)", ylabel="CPU ms per env step", title="SAC loop on cheetah-run")
    for key, label in (("obs_model", "ensemble step"), ("obs_sac", "SAC update")):
        ax[3].plot(list(OBS_SIZES.values()), [v * 1e3 for v in res[key].values()], "o-", label=label)
    ax[3].set(xlabel="observation size", ylabel="CPU ms", title="observation size (batch 256)")
    ax[3].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
