"""A/B of the ensemble's training step in one process: Adam ``foreach`` (before issue 10) against
Adam ``fused``; then the holdout loss of a full retrain (``fit``) with each, same seed, same data.

Usage: python benchmarks/ab_model.py [--repeats 7] [--inner 10] [--fit-rows 4000]

Timing: two identical models take steps on the same batches, alternated (round-robin) so load on
a shared machine hits both alike. Holdout: each optimizer retrains a fresh model (same initial
weights, same generator) on the same synthetic transitions (a fixed random nonlinear plant); the
per-member holdout MSE and the early-stopping epoch are printed side by side.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from pipeline.config import AlgoConfig, model_hyper
from pipeline.world_model import EnsembleDynamics, decay_loss, fit, make_optimizer, nll_loss

OBS, ACT = 17, 6


def optimizer(model: EnsembleDynamics, fused: bool) -> torch.optim.Optimizer:
    if fused:
        return make_optimizer(model)
    return torch.optim.Adam(model.parameters(), lr=model.hp.lr, foreach=True)  # before issue 10


def fresh(max_epochs: int = 200) -> EnsembleDynamics:
    torch.manual_seed(0)
    return EnsembleDynamics(OBS, ACT, dataclasses.replace(model_hyper(AlgoConfig()), max_epochs=max_epochs))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--inner", type=int, default=10)
    p.add_argument("--fit-rows", type=int, default=4000)
    p.add_argument("--fit-epochs", type=int, default=30)
    args = p.parse_args()

    models = {"foreach": fresh(), "fused": fresh()}
    opts = {k: optimizer(m, k == "fused") for k, m in models.items()}
    hp = models["fused"].hp
    g = torch.Generator().manual_seed(0)
    b = hp.batch_size
    data = [
        (torch.randn(hp.members, b, OBS, generator=g), torch.rand(hp.members, b, ACT, generator=g) * 2 - 1,
         torch.randn(hp.members, b, 1 + OBS, generator=g))
        for _ in range(args.inner)
    ]  # fmt: skip
    times: dict[str, list[float]] = {k: [] for k in models}
    for rep in range(args.repeats + 1):
        for key, model in models.items():
            t0 = time.perf_counter()
            for obs, act, target in data:
                loss, _ = nll_loss(model, obs, act, target)
                loss = loss + decay_loss(model)
                opts[key].zero_grad(set_to_none=True)
                loss.backward()
                opts[key].step()
            if rep:
                times[key].append((time.perf_counter() - t0) / args.inner)
    base = float(np.median(times["foreach"]))
    print(f"{'ensemble train step (7 x 256)':30s} {'median ms':>10s} {'min-max ms':>15s} {'speed-up':>9s}")
    for key, ts in times.items():
        med = float(np.median(ts))
        print(f"Adam {key:25s} {1e3 * med:10.2f} {1e3 * min(ts):6.2f}-{1e3 * max(ts):6.2f} {base / med:9.2f}")

    # Holdout loss of a retrain with each optimizer: same data, same initial weights, same generator.
    g = torch.Generator().manual_seed(1)
    w1, w2 = torch.randn(OBS + ACT, 64, generator=g) / 5, torch.randn(64, 1 + OBS, generator=g) / 8
    obs = torch.randn(args.fit_rows, OBS, generator=g)
    act = torch.rand(args.fit_rows, ACT, generator=g) * 2 - 1
    out = torch.tanh(torch.cat([obs, act], -1) @ w1) @ w2 + 0.01 * torch.randn(args.fit_rows, 1 + OBS, generator=g)
    rew, next_obs = out[:, 0], obs + out[:, 1:]
    for key in ("foreach", "fused"):
        model = fresh(args.fit_epochs)
        t0 = time.perf_counter()
        rep_ = fit(model, optimizer(model, key == "fused"), obs, act, rew, next_obs, torch.Generator().manual_seed(2))
        wall = time.perf_counter() - t0
        mse = ", ".join(f"{v:.5f}" for v in rep_.holdout_mse)
        print(f"fit with Adam {key:8s}: {rep_.epochs} epochs ({rep_.stopped_by}), {wall:.1f} s, holdout MSE per member"
              f" [{mse}], mean {np.mean(rep_.holdout_mse):.5f}, elites {rep_.elites}")  # fmt: skip


if __name__ == "__main__":
    main()
