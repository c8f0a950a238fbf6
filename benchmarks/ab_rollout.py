"""A/B timing of the model rollout in one process: the pre-issue-10 prediction (all 7 members,
then pick among the elites) against the elites-only prediction, at several chunk sizes; and the
issue-6 changes: the elites' disagreement written out (:func:`pipeline.world_model.elite_spread`)
instead of ``Tensor.std``, and, for reference, the rollout a caller would get without the
disagreement (each row computed by its drawn elite only; training rollouts record the
disagreement, so they do not run this way).

Usage: python benchmarks/ab_rollout.py [--repeats 5] [--starts 100000]

Variants are timed alternately (round-robin) so load changes on a shared machine hit all alike;
the table gives each variant's median seconds and its ratio to the baseline. It also checks that
the elites-only rollout returns the same transitions as the old one (same generator seed).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import pipeline.model_env as model_env
from pipeline.config import AlgoConfig, SACConfig, model_hyper
from pipeline.model_env import ModelEnv, rollout
from pipeline.sac import Actor, make_sac
from pipeline.world_model import EnsembleDynamics, predict

OBS, ACT = 17, 6


def predict_all_members(
    model: EnsembleDynamics,
    obs: torch.Tensor,
    act: torch.Tensor,
    generator: torch.Generator,
    ctx: torch.Tensor | None = None,
    **_: Any,
) -> dict[str, Any]:
    """``predict`` as it was before issue 10: every member computed, the elites picked after."""
    with torch.no_grad():
        mean, logvar = model.raw(obs, act, ctx)
        mean, var = model.decode(obs, mean, logvar)
        elites = mean[model.elite_idx]
        n = obs.shape[0]
        pick = torch.randint(0, model.hp.elites, (n,), generator=generator, device=generator.device).to(obs.device)
        rows = torch.arange(n, device=obs.device)
        mu, sd = elites[pick, rows], var[model.elite_idx][pick, rows].sqrt()
        noise = torch.randn(mu.shape, generator=generator, device=generator.device).to(obs.device)
        sample = mu + sd * noise
        disagreement = elites[..., 1:].std(dim=0).mean(dim=-1)
    return {"reward": sample[:, 0], "next_obs": sample[:, 1:], "disagreement": disagreement, "elite": pick}


def predict_elites_std(
    model: EnsembleDynamics,
    obs: torch.Tensor,
    act: torch.Tensor,
    generator: torch.Generator,
    ctx: torch.Tensor | None = None,
    **_: Any,
) -> dict[str, Any]:
    """``predict`` as it was before issue 6's throughput work: the elites only, ``Tensor.std``."""
    with torch.no_grad():
        mean, logvar = model.raw(obs, act, ctx, members=model.elite_idx)
        elites, var = model.decode(obs, mean, logvar)
        n = obs.shape[0]
        pick = torch.randint(0, model.hp.elites, (n,), generator=generator, device=generator.device).to(obs.device)
        rows = torch.arange(n, device=obs.device)
        mu, sd = elites[pick, rows], var[pick, rows].sqrt()
        noise = torch.randn(mu.shape, generator=generator, device=generator.device).to(obs.device)
        sample = mu + sd * noise
        disagreement = elites[..., 1:].std(dim=0).mean(dim=-1)
    return {"reward": sample[:, 0], "next_obs": sample[:, 1:], "disagreement": disagreement, "elite": pick}


def predict_routed(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """``predict`` without the disagreement (each row by its drawn elite); a zero disagreement is
    returned so that ``rollout``, which records it, runs: for timing only."""
    out = predict(*args, **{**kwargs, "disagreement": False})
    out["disagreement"] = torch.zeros_like(out["reward"])
    return out


def rollout_setup() -> tuple[EnsembleDynamics, Actor, ModelEnv]:
    """MBPO's ensemble (elites not simply the first five), SAC's actor and a model env that never
    terminates or drops, at cheetah-run sizes; the global torch seed is set to 0 first."""
    torch.manual_seed(0)
    model = EnsembleDynamics(OBS, ACT, model_hyper(AlgoConfig()))
    model.elite_idx.copy_(torch.tensor([5, 0, 3, 6, 2]))
    cfg = SACConfig()
    actor = make_sac(OBS, ACT, hidden=cfg.hidden, depth=cfg.depth, lr_actor=1e-3, lr_critic=1e-3, lr_alpha=1e-3,
                     init_alpha=0.1, log_std_min=cfg.log_std_min, log_std_max=cfg.log_std_max,
                     device=torch.device("cpu"), generator=torch.Generator().manual_seed(0)).actor  # fmt: skip
    env = ModelEnv(model, lambda s: torch.zeros(s.shape[0], dtype=torch.bool), drop_range_factor=1e9)
    return model, actor, env


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--starts", type=int, default=100_000)
    p.add_argument("--length", type=int, default=1)
    args = p.parse_args()
    _, actor, env = rollout_setup()
    x = torch.randn(args.starts, OBS)

    def run(pred: Any, chunk: int, seed: int = 2) -> Any:
        model_env.predict = pred
        return rollout(env, actor, x, args.length, torch.Generator().manual_seed(seed), chunk=chunk)

    old, new = run(predict_all_members, 25_000), run(predict, 25_000)
    same = all(torch.equal(a, b) for a, b in ((old.obs, new.obs), (old.next_obs, new.next_obs), (old.rew, new.rew)))
    close = torch.allclose(old.next_obs, new.next_obs, atol=1e-5) and torch.allclose(old.rew, new.rew, atol=1e-5)
    print(f"elites-only vs all-members rollout: bitwise equal {same}, allclose(1e-5) {close}")
    routed = run(predict_routed, 25_000)
    close = torch.allclose(routed.next_obs, new.next_obs, atol=1e-5) and torch.allclose(routed.rew, new.rew, atol=1e-5)
    print(f"routed vs elites-only rollout: allclose(1e-5) {close}")

    variants: list[tuple[str, Callable[..., dict[str, Any]], int]] = [
        ("all members, chunk 25000 (before 10)", predict_all_members, 25_000)
    ]
    variants += [(f"elites, Tensor.std, chunk {c} (before 6)", predict_elites_std, c) for c in (25_000, 5_000)]
    variants += [(f"elites, elite_spread, chunk {c} (now)", predict, c) for c in (25_000, 10_000, 5_000, 2_500)]
    variants += [(f"routed, no disagreement, chunk {c}", predict_routed, c) for c in (25_000, 5_000)]
    times: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    for _name, pred, chunk in variants:  # warm-up
        run(pred, chunk)
    for _ in range(args.repeats):
        for name, pred, chunk in variants:
            t0 = time.perf_counter()
            run(pred, chunk)
            times[name].append(time.perf_counter() - t0)
    base = float(np.median(times[variants[0][0]]))
    print(f"{'variant':45s} {'median s':>9s} {'min-max':>15s} {'speed-up':>9s} {'transitions/s':>14s}")
    for name, ts in times.items():
        med = float(np.median(ts))
        rate = args.starts * args.length / med
        print(f"{name:45s} {med:9.3f} {min(ts):6.3f}-{max(ts):6.3f} {base / med:9.2f} {rate:14,.0f}")


if __name__ == "__main__":
    main()
