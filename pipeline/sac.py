"""Soft Actor-Critic (Haarnoja et al., 2018) with fused twin critics and entropy tuning.

The update is a function of explicit inputs (agent state, batch, generator, frozen
hyper-parameters) and returns a dict of detached metric tensors. Each loss is its own
function, taking the Gaussian noise it uses as an argument so tests can compute it by hand.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from pipeline.buffer import Batch
from pipeline.checkpoint import load_optimizer
from pipeline.nets import EnsembleMLP, mlp

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


@dataclass(frozen=True)
class SACHyper:
    """Hyper-parameters the update reads in its hot loop (frozen, derived from the config)."""

    gamma: float
    tau: float
    target_entropy: float
    log_std_min: float
    log_std_max: float
    anchor: float = 0.0
    """Weight of the squared distance to :attr:`SACState.anchor`'s actions in the actor loss."""


class Actor(nn.Module):
    """Tanh-squashed diagonal Gaussian policy."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden: int,
        depth: int,
        log_std_min: float,
        log_std_max: float,
        net: nn.Module | None = None,
    ):
        """``net`` replaces the MLP (``pipeline.multiseed`` passes one batched over seeds); it must
        map observations to ``2 * act_dim`` outputs, the means then the raw log-stds."""
        super().__init__()
        self.act_dim = act_dim
        self.net = net if net is not None else mlp(obs_dim, 2 * act_dim, hidden, depth)
        self.log_std_min, self.log_std_max = log_std_min, log_std_max

    def dist_params(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-std of the pre-tanh Gaussian; log-std squashed smoothly into its bounds."""
        mean, raw = self.net(obs).chunk(2, dim=-1)
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (torch.tanh(raw) + 1.0)
        return mean, log_std

    def sample(self, obs: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised action for noise ``eps`` and its log-probability (summed over dims)."""
        mean, log_std = self.dist_params(obs)
        return squashed_sample(mean, log_std, eps)

    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        """The policy's mode, ``tanh(mean)``."""
        return torch.tanh(self.dist_params(obs)[0])


def squashed_sample(mean: torch.Tensor, log_std: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``a = tanh(mean + std * eps)`` and ``log pi(a)`` with the tanh change of variables.

    ``log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))`` keeps the correction finite.
    """
    u = mean + log_std.exp() * eps
    log_prob = (-0.5 * eps.pow(2) - log_std - _LOG_SQRT_2PI).sum(-1)
    log_prob = log_prob - (2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))).sum(-1)
    return torch.tanh(u), log_prob


class TwinCritic(nn.Module):
    """Two Q-networks fused into one batched network: ``forward`` returns ``[2, batch]``.

    With ``ctx_dim > 0`` the critics also read the perturbation context (the policy never does);
    a missing context means zeros (nominal).
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden: int, depth: int, ctx_dim: int = 0) -> None:
        super().__init__()
        self.ctx_dim = ctx_dim
        self.net = EnsembleMLP(2, obs_dim + act_dim + ctx_dim, 1, hidden, depth)

    def forward(self, obs: torch.Tensor, act: torch.Tensor, ctx: torch.Tensor | None = None) -> torch.Tensor:
        parts = [obs, act]
        if self.ctx_dim:
            parts.append(ctx if ctx is not None and ctx.shape[-1] else obs.new_zeros((*obs.shape[:-1], self.ctx_dim)))
        q: torch.Tensor = self.net(torch.cat(parts, dim=-1)).squeeze(-1)
        return q


@dataclass
class SACState:
    """Networks, temperature and optimizers of one SAC agent."""

    actor: Actor
    critic: TwinCritic
    critic_target: TwinCritic
    log_alpha: torch.Tensor
    actor_opt: torch.optim.Optimizer
    critic_opt: torch.optim.Optimizer
    alpha_opt: torch.optim.Optimizer
    anchor: Actor | None = None
    """A frozen copy of the starting policy (``sac.anchor > 0``), or None."""

    def set_anchor(self) -> None:
        """Makes the anchor a frozen copy of the actor as it is now (the starting policy)."""
        self.anchor = copy.deepcopy(self.actor).requires_grad_(False).eval()

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training."""
        anchor = {"anchor": self.anchor.state_dict()} if self.anchor is not None else {}
        return {
            **anchor,
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "log_alpha": self.log_alpha.detach().clone(),
            "actor_opt": self.actor_opt.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "alpha_opt": self.alpha_opt.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict`; the optimizers get copies of their state (never shared)."""
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.critic_target.load_state_dict(state["critic_target"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        load_optimizer(self.actor_opt, state["actor_opt"])
        load_optimizer(self.critic_opt, state["critic_opt"])
        load_optimizer(self.alpha_opt, state["alpha_opt"])
        if "anchor" in state:
            self.set_anchor()
            assert self.anchor is not None
            self.anchor.load_state_dict(state["anchor"])


def make_sac(
    obs_dim: int,
    act_dim: int,
    *,
    hidden: int,
    depth: int,
    lr_actor: float,
    lr_critic: float,
    lr_alpha: float,
    init_alpha: float,
    log_std_min: float,
    log_std_max: float,
    device: torch.device,
    generator: torch.Generator,
    critic_ctx_dim: int = 0,
) -> SACState:
    """Builds a fresh agent; initial weights are drawn from ``generator``. ``critic_ctx_dim > 0``
    lets the critics (never the actor) read that many context columns.

    Adam runs with ``fused=True`` (one kernel per step, CPU and CUDA): about 1.09x less CPU time
    per update than ``foreach=True`` at batch 256 on one thread, on a fresh agent and on a trained
    ftfl loop state alike (cheetah-run sizes, same-process A/B, benchmarks/ab_update_agent.py;
    docs/performance.md section 6 explains why an earlier wall-clock A/B said 1.36x).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator).item()))
        actor = Actor(obs_dim, act_dim, hidden, depth, log_std_min, log_std_max).to(device)
        critic = TwinCritic(obs_dim, act_dim, hidden, depth, critic_ctx_dim).to(device)
    critic_target = TwinCritic(obs_dim, act_dim, hidden, depth, critic_ctx_dim).to(device)
    critic_target.load_state_dict(critic.state_dict())
    critic_target.requires_grad_(False)
    log_alpha = torch.tensor(math.log(init_alpha), device=device, requires_grad=True)
    return SACState(
        actor=actor,
        critic=critic,
        critic_target=critic_target,
        log_alpha=log_alpha,
        actor_opt=torch.optim.Adam(actor.parameters(), lr=lr_actor, fused=True),
        critic_opt=torch.optim.Adam(critic.parameters(), lr=lr_critic, fused=True),
        alpha_opt=torch.optim.Adam([log_alpha], lr=lr_alpha, fused=True),
    )


def soft_target(
    rew: torch.Tensor,
    terminated: torch.Tensor,
    q_next: torch.Tensor,
    next_logp: torch.Tensor,
    alpha: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """The soft Bellman target ``r + gamma (1 - terminated) (Q'(s', a') - alpha log pi(a'|s'))``,
    elementwise over ``[..., B]`` (one agent, or stacked seeds with ``alpha`` shaped to broadcast)."""
    not_done = (~terminated).to(rew.dtype)
    return rew + gamma * not_done * (q_next - alpha * next_logp)


def twin_critic_loss(q: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum over the twin critics of the mean squared error to the target: ``q`` is ``[..., 2, B]``,
    ``target`` is ``[..., B]``; one loss per leading index (stacked seeds), a scalar for one agent."""
    return (q - target.unsqueeze(-2)).pow(2).mean(dim=-1).sum(dim=-1)


def policy_loss(alpha: torch.Tensor, logp: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``mean(alpha log pi(a|s) - min_i Q_i(s, a))`` over the last (batch) dimension."""
    return (alpha * logp - q).mean(dim=-1)


def critic_loss(
    state: SACState, batch: Batch, eps_next: torch.Tensor, hp: SACHyper
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Sum over the twin critics of the mean squared soft Bellman error.

    ``y = r + gamma (1 - terminated) (min_i Q'_i(s', a') - alpha log pi(a'|s'))``, ``a' ~ pi(s')``
    drawn with ``eps_next``; truncated episodes bootstrap (they were stored as not terminated).
    """
    with torch.no_grad():
        next_act, next_logp = state.actor.sample(batch.next_obs, eps_next)
        q_next = state.critic_target(batch.next_obs, next_act, batch.ctx).min(dim=0).values
        target = soft_target(batch.rew, batch.terminated, q_next, next_logp, state.log_alpha.exp(), hp.gamma)
    q = state.critic(batch.obs, batch.act, batch.ctx)
    loss = twin_critic_loss(q, target)
    return loss, {"critic/loss": loss.detach(), "critic/q_mean": q.detach().mean(), "critic/target_mean": target.mean()}


def actor_loss(
    state: SACState, batch: Batch, eps: torch.Tensor, anchor: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """``mean(alpha log pi(a|s) - min_i Q_i(s, a))`` with ``a`` reparameterised by ``eps``; with an
    anchor, plus ``anchor * mean(|mu(s) - mu_0(s)|^2)``, ``mu`` the actor's deterministic action and
    ``mu_0`` the anchor's (behaviour-regularized fine-tuning toward the starting policy).

    Returns the loss, the (detached) log-probabilities for the temperature loss, and metrics.
    """
    act, logp = state.actor.sample(batch.obs, eps)
    q = state.critic(batch.obs, act, batch.ctx).min(dim=0).values
    loss = policy_loss(state.log_alpha.detach().exp(), logp, q)
    metrics = {"actor/entropy": -logp.detach().mean()}
    if anchor > 0 and state.anchor is not None:
        with torch.no_grad():
            start = state.anchor.deterministic(batch.obs)
        distance = (state.actor.deterministic(batch.obs) - start).square().sum(-1).mean()
        loss = loss + anchor * distance
        metrics["actor/anchor_distance"] = distance.detach()
    metrics["actor/loss"] = loss.detach()
    return loss, logp.detach(), metrics


def alpha_loss(log_alpha: torch.Tensor, logp: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """Temperature loss ``-mean(log_alpha (log pi + target_entropy))`` (automatic entropy tuning);
    with leading seed dimensions (``log_alpha`` shaped to broadcast), one loss per seed."""
    return -(log_alpha * (logp + target_entropy)).mean(dim=-1)


def sac_update(state: SACState, batch: Batch, generator: torch.Generator, hp: SACHyper) -> dict[str, torch.Tensor]:
    """One SAC gradient step: critics, then actor, then temperature, then Polyak targets.

    Args:
        state: the agent; its networks and optimizers are updated in place.
        batch: transitions to learn from.
        generator: the source of the policy noise (two draws per update).
        hp: frozen hyper-parameters.

    Returns:
        Detached scalar tensors: losses, Q statistics, entropy, temperature. A non-finite critic
        loss skips the whole update and returns only ``faults/skipped``; a non-finite actor or
        temperature loss skips those two steps and adds ``faults/actor_skipped``
        (:mod:`pipeline.faults` counts both).
    """
    shape = (batch.obs.shape[0], state.actor.act_dim)
    eps_next = torch.randn(shape, generator=generator, device=generator.device).to(batch.obs.device)
    eps = torch.randn(shape, generator=generator, device=generator.device).to(batch.obs.device)

    q_loss, metrics = critic_loss(state, batch, eps_next, hp)
    if not bool(torch.isfinite(q_loss)):  # NaN/inf: skip the whole update, change nothing (issue 8)
        return {"faults/skipped": torch.ones(())}
    state.critic_opt.zero_grad(set_to_none=True)
    q_loss.backward()
    state.critic_opt.step()

    state.critic.requires_grad_(False)  # the actor's loss must not leave gradients on the critics
    pi_loss, logp, pi_metrics = actor_loss(state, batch, eps, hp.anchor)
    a_loss = alpha_loss(state.log_alpha, logp, hp.target_entropy)
    if bool(torch.isfinite(pi_loss) & torch.isfinite(a_loss)):
        state.actor_opt.zero_grad(set_to_none=True)
        pi_loss.backward()
        state.actor_opt.step()
        state.alpha_opt.zero_grad(set_to_none=True)
        a_loss.backward()
        state.alpha_opt.step()
    else:  # the critic stepped; the actor and temperature steps are skipped (issue 8)
        metrics["faults/actor_skipped"] = torch.ones(())
    state.critic.requires_grad_(True)

    with torch.no_grad():
        torch._foreach_lerp_(list(state.critic_target.parameters()), list(state.critic.parameters()), hp.tau)
    metrics.update(pi_metrics)
    metrics["alpha/loss"] = a_loss.detach()
    metrics["alpha/value"] = state.log_alpha.detach().exp()
    return metrics
