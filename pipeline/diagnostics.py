"""The paper's diagnostics of the two failure modes (FTFL, Barkley & Fridovich-Keil 2025).

* Scale: the standard deviation of the raw state and reward targets, and each block's share of
  the model's training error (under ``joint`` raw targets, a small-scale reward is swamped).
* Reward prediction on held-out real data: R² and NRMSE overall, and NRMSE on rewarded states
  (reward above a tenth of the largest) separately, since a model can fit the mean and miss those
  (REFERENCE.md, "Learned variances can write a target off as noise").
* Percent model error ``||ŷ - y|| / ||y||`` one step and k steps ahead against real trajectories,
  rolling the elites' mean prediction under the recorded real actions, next to the error of
  predicting no change.
* Critic value ``Q(s, π(s))`` against the discounted Monte-Carlo return on evaluation episodes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from pipeline.buffer import ReplayBuffer
from pipeline.sac import SACState
from pipeline.world_model import EnsembleDynamics, elite_spread


def elite_means(
    model: EnsembleDynamics, obs: torch.Tensor, act: torch.Tensor, ctx: torch.Tensor | None = None
) -> torch.Tensor:
    """Each elite's mean prediction of ``[reward, next state]`` in plant units, ``[elites, batch, out]``
    (``ctx``: each row's perturbation context, None for nominal)."""
    with torch.no_grad():
        mean, logvar = model.raw(obs, act, ctx)
        mean, _ = model.decode(obs, mean, logvar)
        return mean[model.elite_idx]


def elite_mean(
    model: EnsembleDynamics, obs: torch.Tensor, act: torch.Tensor, ctx: torch.Tensor | None = None
) -> torch.Tensor:
    """The elites' mean prediction of ``[reward, next state]`` in plant units."""
    return elite_means(model, obs, act, ctx).mean(0)


def target_scales(
    model: EnsembleDynamics, obs: torch.Tensor, rew: torch.Tensor, next_obs: torch.Tensor
) -> dict[str, float]:
    """Std of the raw reward target and mean per-dimension std of the raw state target."""
    state = next_obs - obs if model.hp.target == "residual" else next_obs
    return {"diag/reward_target_std": float(rew.std()), "diag/state_target_std": float(state.std(0).mean())}


def reward_metrics(
    model: EnsembleDynamics, obs: torch.Tensor, act: torch.Tensor, rew: torch.Tensor, ctx: torch.Tensor | None = None
) -> dict[str, float]:
    """Reward RMSE; R² and NRMSE (RMSE / std of the true reward); NRMSE on rewarded states (true
    reward above a tenth of the largest), which a model can miss while fitting the mean.

    R² and NRMSE are NaN when the true rewards do not vary (std below 1e-6): they are undefined
    there, and dividing by a floor would print a meaningless huge number.
    """
    pred = elite_mean(model, obs, act, ctx)[:, 0]
    err = pred - rew
    std = float(rew.std(unbiased=False))
    rmse = float(err.pow(2).mean().sqrt())
    top = rew > 0.1 * rew.max()
    nan = float("nan")
    return {
        "diag/reward_rmse": rmse,
        "diag/reward_r2": 1.0 - rmse**2 / std**2 if std > 1e-6 else nan,
        "diag/reward_nrmse": rmse / std if std > 1e-6 else nan,
        "diag/reward_nrmse_rewarded": float(err[top].pow(2).mean().sqrt()) / std if std > 1e-6 and top.any() else nan,
    }


def disagreement(
    model: EnsembleDynamics, obs: torch.Tensor, act: torch.Tensor, ctx: torch.Tensor | None = None
) -> float:
    """Mean over rows and state dims of the std of the elites' next-state means."""
    return float(elite_spread(elite_means(model, obs, act, ctx)[..., 1:]).mean())


def real_segments(buffer: ReplayBuffer, k: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """Up to ``n`` start rows of ``k`` consecutive real transitions from one episode.

    Consecutive means same episode seed, no termination before the last step, and each stored
    ``next_obs`` exactly equal to the following row's ``obs`` (so wrap-around and episode ends
    are excluded). Returns ``[m, k]`` row indices, ``m <= n``.
    """
    if buffer.size < k + 1:
        return torch.zeros((0, k), dtype=torch.int64)
    starts = torch.randint(0, buffer.size - k + 1, (4 * n,), generator=generator, device=generator.device)
    rows = (starts.to(buffer.device).unsqueeze(1) + torch.arange(k, device=buffer.device)) % buffer.capacity
    ok = (buffer.seed[rows] == buffer.seed[rows[:, :1]]).all(1)
    if k > 1:
        ok &= (buffer.next_obs[rows[:, :-1]] == buffer.obs[rows[:, 1:]]).all(-1).all(-1)
        ok &= ~buffer.terminated[rows[:, :-1]].any(1)
    return rows[ok][:n]


def kstep_errors(
    model: EnsembleDynamics, buffer: ReplayBuffer, ks: Sequence[int], n: int, generator: torch.Generator
) -> dict[str, float]:
    """Mean percent error of the elites' mean open-loop prediction ``k`` steps ahead, on segments of
    the real buffer (mostly the model's own training data), and of the no-change prediction (the
    segment's first state) on the same segments: a model no better than that has learned nothing."""
    out: dict[str, float] = {}
    kmax = max(ks)
    rows = real_segments(buffer, kmax, n, generator)
    if rows.shape[0] == 0:
        return out
    start = obs = buffer.obs[rows[:, 0]]
    for step in range(1, kmax + 1):
        ctx = buffer.ctx[rows[:, step - 1]] if model.ctx_dim else None
        obs = elite_mean(model, obs, buffer.act[rows[:, step - 1]], ctx)[:, 1:]
        if step in ks:
            truth = buffer.next_obs[rows[:, step - 1]]
            scale = truth.norm(dim=-1).clamp_min(1e-8)
            out[f"diag/model_error_pct_k{step}"] = 100.0 * float(((obs - truth).norm(dim=-1) / scale).mean())
            out[f"diag/no_change_error_pct_k{step}"] = 100.0 * float(((start - truth).norm(dim=-1) / scale).mean())
    return out


def q_vs_monte_carlo(
    agent: SACState, episodes: list[tuple[np.ndarray, np.ndarray]], gamma: float, device: torch.device
) -> dict[str, float]:
    """Mean ``min_i Q_i(s, π(s))`` vs the mean discounted return from ``s``, over the first half of
    each evaluation episode (where truncation at the time limit barely biases the return)."""
    q_all, g_all = [], []
    for obs, rewards in episodes:
        returns = np.zeros(len(rewards))
        running = 0.0
        for t in range(len(rewards) - 1, -1, -1):
            running = rewards[t] + gamma * running
            returns[t] = running
        half = max(len(rewards) // 2, 1)
        with torch.no_grad():
            o = torch.as_tensor(obs[:half], device=device)
            q = agent.critic(o, agent.actor.deterministic(o)).min(0).values
        q_all.append(q.cpu().numpy())
        g_all.append(returns[:half])
    q_mean, g_mean = float(np.concatenate(q_all).mean()), float(np.concatenate(g_all).mean())
    ratio = q_mean / g_mean if abs(g_mean) > 1e-8 else float("nan")
    return {"diag/q_mean": q_mean, "diag/mc_return_mean": g_mean, "diag/q_over_mc": ratio}
