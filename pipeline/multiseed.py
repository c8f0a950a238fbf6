"""Several SAC agents (seeds) trained as one batched computation (issue 10, multi-seed).

``S`` seeds' networks are stacked along a leading dimension, like the critics' ensemble
(:class:`pipeline.nets.EnsembleMLP`): every layer of all ``S`` actors is one ``baddbmm`` over an
``[S, in, out]`` weight, the ``2 S`` critics one ``baddbmm`` over ``[2 S, in, out]``. Each seed
keeps its own temperature (``log_alpha`` has shape ``[S]``), its own batches and its own noise
generator.

Why this is exactly ``S`` independent updates: the seeds' parameters are disjoint slices of the
stacked tensors and no operation mixes seeds, so the gradient of the **sum** of the seeds' losses
with respect to seed ``s``'s slice is the gradient of seed ``s``'s loss alone; Adam is elementwise,
so one optimizer step over the stacked tensors is ``S`` separate Adam steps (same learning rate,
betas, epsilon and step count). ``tests/pipeline/test_multiseed.py`` checks that ``S`` stacked
seeds match ``S`` agents of :mod:`pipeline.sac` updated one by one (to float rounding: a batched
matmul may sum in another order than the single agent's).

Faults (issue 8) stay per seed: a seed whose critic loss is not finite changes nothing, a seed
whose actor or temperature loss is not finite keeps its critic step only, exactly as
:func:`pipeline.sac.sac_update` does for one agent; the other seeds update normally. The stacked
step restores the skipped seed's slices (weights and Adam moments) after the shared optimizer
step. One difference remains: the optimizer's step counter is shared, so after a skip that seed's
Adam bias correction counts one step more than a lone agent's would (it matters only in the first
few thousand steps, where ``1 - beta**t`` is not yet 1).

Scope: the agent and its update. :mod:`pipeline.stacked_train` runs the training loop of
``algo=sac`` on it (``synthgate train stacked_seeds=[...]``); the world model still runs one seed
per process. ``benchmarks/ab_multiseed.py`` (the update, and a bare SAC loop) and
``benchmarks/stacked_train.py`` (the training loop) measure what stacking buys.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from pipeline.buffer import Batch
from pipeline.nets import EnsembleLinear, EnsembleMLP
from pipeline.sac import (
    Actor,
    SACHyper,
    SACState,
    alpha_loss,
    make_sac,
    policy_loss,
    soft_target,
    twin_critic_loss,
)


class StackedActor(Actor):
    """``seeds`` tanh-Gaussian actors (:class:`pipeline.sac.Actor` on one network batched over
    seeds); ``[S, B, obs]`` in, ``[S, B, act]`` out, log-probabilities ``[S, B]``."""

    net: EnsembleMLP

    def __init__(self, seeds: int, obs_dim: int, act_dim: int, hidden: int, depth: int, log_std_min: float,
                 log_std_max: float) -> None:  # fmt: skip
        super().__init__(obs_dim, act_dim, hidden, depth, log_std_min, log_std_max,
                         net=EnsembleMLP(seeds, obs_dim, 2 * act_dim, hidden, depth))  # fmt: skip
        self.seeds = seeds


class StackedCritic(nn.Module):
    """``seeds`` twin critics as ``2 * seeds`` batched networks; ``forward`` returns ``[S, 2, B]``.

    Member ``2 s + i`` is critic ``i`` of seed ``s``.
    """

    def __init__(self, seeds: int, obs_dim: int, act_dim: int, hidden: int, depth: int) -> None:
        super().__init__()
        self.seeds = seeds
        self.net = EnsembleMLP(2 * seeds, obs_dim + act_dim, 1, hidden, depth)

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, act], dim=-1)  # [S, B, in]
        s, b, width = x.shape
        x = x.unsqueeze(1).expand(s, 2, b, width).reshape(2 * s, b, width)
        q: torch.Tensor = self.net(x).view(s, 2, b)
        return q


@dataclass
class StackedSAC:
    """Networks, per-seed temperatures and the three optimizers of ``seeds`` stacked agents."""

    actor: StackedActor
    critic: StackedCritic
    critic_target: StackedCritic
    log_alpha: torch.Tensor
    actor_opt: torch.optim.Optimizer
    critic_opt: torch.optim.Optimizer
    alpha_opt: torch.optim.Optimizer

    @property
    def seeds(self) -> int:
        return self.actor.seeds


def _layers(net: EnsembleMLP) -> list[EnsembleLinear]:
    return [m for m in net.layers if isinstance(m, EnsembleLinear)]


Slice = Callable[[torch.Tensor], torch.Tensor]
"""Maps a stacked tensor (a parameter or one of its Adam moments) to one seed's view of it."""


def _pairs(stacked: StackedSAC, s: int, agent: SACState) -> list[tuple[str, torch.Tensor, torch.Tensor, Slice]]:
    """Seed ``s``'s tensors: ``(part, lone agent's parameter, stacked parameter, seed view)``.

    The lone actor's ``nn.Linear`` stores ``[out, in]``, the stacked one ``[S, in, out]``: its view is
    transposed. Critic member ``2 s + i`` is twin ``i`` of seed ``s``. The same view maps a
    parameter's Adam moments, which have the parameter's shape.
    """
    actor, critic, target, log_alpha = stacked.actor, stacked.critic, stacked.critic_target, stacked.log_alpha
    linears = [m for m in agent.actor.net.modules() if isinstance(m, nn.Linear)]
    out: list[tuple[str, torch.Tensor, torch.Tensor, Slice]] = []
    for layer, lin in zip(_layers(actor.net), linears, strict=True):
        out.append(("actor", lin.weight, layer.weight, lambda t: t[s].T))
        out.append(("actor", lin.bias, layer.bias, lambda t: t[s, 0]))
    twins = slice(2 * s, 2 * s + 2)
    for part, net, single in (("critic", critic, agent.critic), ("critic_target", target, agent.critic_target)):
        for layer, lone in zip(_layers(net.net), _layers(single.net), strict=True):
            out.append((part, lone.weight, layer.weight, lambda t: t[twins]))
            out.append((part, lone.bias, layer.bias, lambda t: t[twins]))
    out.append(("alpha", agent.log_alpha, log_alpha, lambda t: t[s]))
    return out


def _lone_optimizer(agent: SACState, part: str) -> torch.optim.Optimizer | None:
    return {"actor": agent.actor_opt, "critic": agent.critic_opt, "alpha": agent.alpha_opt}.get(part)


def _adam_steps(agents: Sequence[SACState]) -> dict[str, float | None]:
    """Each optimizer's (``actor``, ``critic``, ``alpha``) Adam step count, common to the agents
    (None: no agent has stepped it yet). The three may differ from each other (a lone agent that
    skipped only an actor step); each must be the same in every agent.

    Raises:
        ValueError: an optimizer that some agents have stepped and some not, or at different steps.
    """
    out: dict[str, float | None] = {}
    for part in ("actor", "critic", "alpha"):
        steps = set()
        for agent in agents:
            opt = _lone_optimizer(agent, part)
            assert opt is not None
            for p in (p for g in opt.param_groups for p in g["params"]):
                st = opt.state.get(p)
                steps.add(float(st["step"]) if st else None)
        if len(steps) != 1:
            raise ValueError(
                f"stack_agents: the agents' {part} optimizers are at different steps "
                f"({sorted(str(x) for x in steps)}); stacked seeds share one Adam step count per optimizer"
            )
        out[part] = steps.pop()
    return out


def stack_agents(agents: Sequence[SACState], lr_actor: float, lr_critic: float, lr_alpha: float) -> StackedSAC:
    """One stacked agent holding the weights, temperatures and Adam moments of ``agents``.

    Agents that have never been updated give fresh optimizers; agents that have (a resumed run)
    give their Adam moments and step count, so the stacked update continues each seed exactly
    where its lone agent would.

    Raises:
        ValueError: no agents, agents of different shapes, critics that read a context, or
            optimizers at different steps.
    """
    if not agents:
        raise ValueError("stack_agents: need at least one agent")
    first = agents[0]
    if any(a.critic.ctx_dim for a in agents):
        raise ValueError("stack_agents: critics that read a context (critic_context=true) are not supported")
    linears = [m for m in first.actor.net.modules() if isinstance(m, nn.Linear)]
    obs_dim, act_dim = linears[0].in_features, first.actor.act_dim
    hidden, depth = linears[0].out_features, len(linears) - 1
    shapes = {tuple(p.shape for p in a.actor.parameters()) + tuple(p.shape for p in a.critic.parameters())
              for a in agents}  # fmt: skip
    if len(shapes) != 1:
        raise ValueError("stack_agents: the agents' networks differ in shape")
    steps = _adam_steps(agents)
    s_count, device = len(agents), first.log_alpha.device
    with torch.random.fork_rng(devices=[]):  # the initial weights are overwritten: keep the global stream as it was
        actor = StackedActor(s_count, obs_dim, act_dim, hidden, depth, first.actor.log_std_min,
                             first.actor.log_std_max)  # fmt: skip
        critic = StackedCritic(s_count, obs_dim, act_dim, hidden, depth)
        target = StackedCritic(s_count, obs_dim, act_dim, hidden, depth)
    actor, critic, target = actor.to(device), critic.to(device), target.to(device)
    log_alpha = torch.zeros(s_count, device=device, dtype=first.log_alpha.dtype, requires_grad=True)
    target.requires_grad_(False)
    out = StackedSAC(
        actor=actor,
        critic=critic,
        critic_target=target,
        log_alpha=log_alpha,
        actor_opt=torch.optim.Adam(actor.parameters(), lr=lr_actor, fused=True),
        critic_opt=torch.optim.Adam(critic.parameters(), lr=lr_critic, fused=True),
        alpha_opt=torch.optim.Adam([log_alpha], lr=lr_alpha, fused=True),
    )
    with torch.no_grad():
        for s, agent in enumerate(agents):
            for part, lone, big, view in _pairs(out, s, agent):
                view(big).copy_(lone)
                lone_opt, opt, step = _lone_optimizer(agent, part), _tensors(out, part)[2], steps.get(part)
                if lone_opt is None or opt is None or step is None:
                    continue
                st = opt.state[big]
                if not st:
                    st["step"] = torch.tensor(step, dtype=torch.float32, device=device)
                    st["exp_avg"], st["exp_avg_sq"] = torch.zeros_like(big), torch.zeros_like(big)
                for key in ("exp_avg", "exp_avg_sq"):
                    view(st[key]).copy_(lone_opt.state[lone][key])
    return out


def make_stacked_sac(
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
    generators: Sequence[torch.Generator],
) -> StackedSAC:
    """``len(generators)`` seeds; seed ``s`` starts from the weights :func:`pipeline.sac.make_sac`
    draws from ``generators[s]``, so a stacked seed begins where a lone run with that generator would."""
    agents = [
        make_sac(obs_dim, act_dim, hidden=hidden, depth=depth, lr_actor=lr_actor, lr_critic=lr_critic,
                 lr_alpha=lr_alpha, init_alpha=init_alpha, log_std_min=log_std_min, log_std_max=log_std_max,
                 device=device, generator=g)
        for g in generators
    ]  # fmt: skip
    return stack_agents(agents, lr_actor, lr_critic, lr_alpha)


def unstack_agent(stacked: StackedSAC, s: int, agent: SACState) -> None:
    """Copies seed ``s``'s weights, temperature and Adam moments and step count into ``agent`` (a
    :func:`pipeline.sac.make_sac` agent of the same shapes): afterwards ``agent`` is the lone agent
    seed ``s`` would be, to evaluate, export, checkpoint or go on training alone."""
    with torch.no_grad():
        for part, lone, big, view in _pairs(stacked, s, agent):
            lone.copy_(view(big))
            lone_opt, opt = _lone_optimizer(agent, part), _tensors(stacked, part)[2]
            if lone_opt is None or opt is None or not opt.state.get(big):
                continue
            src, dst = opt.state[big], lone_opt.state[lone]
            dst["step"] = src["step"].clone()
            for key in ("exp_avg", "exp_avg_sq"):
                dst[key] = torch.empty_like(lone).copy_(view(src[key]))


def stack_batches(batches: Sequence[Batch]) -> Batch:
    """One batch per seed (equal sizes) stacked into ``[S, B, ...]`` fields."""
    return Batch(**{f: torch.stack([getattr(b, f) for b in batches]) for f in Batch.__dataclass_fields__})


# --- the update -------------------------------------------------------------------------------


def _tensors(state: StackedSAC, part: str) -> tuple[list[torch.Tensor], int, torch.optim.Optimizer | None]:
    """The tensors of ``part`` (actor, critic, critic_target, alpha), their members per seed, and
    the optimizer that steps them (None for the Polyak-averaged targets)."""
    if part == "critic_target":
        return list(state.critic_target.parameters()), 2, None
    opt = {"actor": state.actor_opt, "critic": state.critic_opt, "alpha": state.alpha_opt}[part]
    return [p for group in opt.param_groups for p in group["params"]], 2 if part == "critic" else 1, opt


class _Snapshot:
    """Seed slices of weights and Adam moments, taken before a step and put back after it.

    A moment the optimizer had not created yet (its first step) is put back as zeros, the value a
    lone agent that skipped this step would start from.
    """

    def __init__(self, state: StackedSAC, seeds: list[int], parts: Sequence[str]) -> None:
        self.items: list[tuple[torch.Tensor, slice, torch.optim.Optimizer | None, dict[str, torch.Tensor]]] = []
        for part in parts:
            params, per_seed, opt = _tensors(state, part)
            for p in params:
                adam = opt.state.get(p, {}) if opt is not None else {}
                for s in seeds:
                    rows = slice(s * per_seed, (s + 1) * per_seed)
                    saved = {"param": p.detach()[rows].clone()}
                    saved.update({k: v[rows].clone() for k, v in adam.items() if k != "step"})
                    self.items.append((p, rows, opt, saved))

    def restore(self) -> None:
        with torch.no_grad():
            for p, rows, opt, saved in self.items:
                p.detach()[rows] = saved["param"]
                if opt is not None:
                    for key, value in opt.state.get(p, {}).items():
                        if key != "step":
                            value[rows] = saved.get(key, 0.0)


def _bad_seeds(ok: torch.Tensor) -> list[int]:
    """Indices where ``ok`` is False (one host sync when all are fine)."""
    if bool(ok.all()):
        return []
    return [int(i) for i in torch.nonzero(~ok).flatten().tolist()]


def stacked_sac_update(
    state: StackedSAC, batch: Batch, generators: Sequence[torch.Generator], hp: SACHyper
) -> dict[str, torch.Tensor]:
    """One SAC gradient step for every seed: critics, then actors, then temperatures, then
    Polyak targets, as :func:`pipeline.sac.sac_update` does for one agent.

    Args:
        state: the stacked agents; updated in place.
        batch: ``[S, B, ...]`` fields, seed ``s``'s batch at index ``s`` (:func:`stack_batches`).
        generators: one per seed; seed ``s`` draws its two noise tensors from ``generators[s]`` in
            the order a lone agent's update would (next-state noise, then current-state noise).
        hp: frozen hyper-parameters, shared by the seeds.

    Returns:
        Detached metrics of shape ``[S]``: the keys of ``sac_update``, plus ``faults/skipped`` and
        ``faults/actor_skipped`` (1.0 for a seed whose update, or whose actor and temperature
        step, was skipped for a non-finite loss).

    Raises:
        ValueError: the batch or the generators do not match the number of seeds.
    """
    seeds = state.seeds
    if batch.obs.dim() != 3 or batch.obs.shape[0] != seeds or len(generators) != seeds:
        raise ValueError(
            f"stacked_sac_update: {seeds} seeds need a batch of shape [{seeds}, B, obs] and {seeds} generators; "
            f"got obs {tuple(batch.obs.shape)} and {len(generators)} generators"
        )
    b, device = batch.obs.shape[1], batch.obs.device
    noise = [(torch.randn((b, state.actor.act_dim), generator=g, device=g.device),
              torch.randn((b, state.actor.act_dim), generator=g, device=g.device)) for g in generators]  # fmt: skip
    eps_next = torch.stack([n[0] for n in noise]).to(device)
    eps = torch.stack([n[1] for n in noise]).to(device)

    # critics
    with torch.no_grad():
        next_act, next_logp = state.actor.sample(batch.next_obs, eps_next)
        q_next = state.critic_target(batch.next_obs, next_act).min(dim=1).values  # [S, B]
        alpha = state.log_alpha.exp().unsqueeze(1)
        target = soft_target(batch.rew, batch.terminated, q_next, next_logp, alpha, hp.gamma)
    q = state.critic(batch.obs, batch.act)  # [S, 2, B]
    q_losses = twin_critic_loss(q, target)  # [S]
    critic_ok = torch.isfinite(q_losses)
    skipped = _bad_seeds(critic_ok)
    whole = _Snapshot(state, skipped, ("actor", "critic", "critic_target", "alpha")) if skipped else None
    state.critic_opt.zero_grad(set_to_none=True)
    torch.where(critic_ok, q_losses, torch.zeros_like(q_losses)).sum().backward()
    state.critic_opt.step()

    # actors and temperatures
    state.critic.requires_grad_(False)
    act, logp = state.actor.sample(batch.obs, eps)
    q_pi = state.critic(batch.obs, act).min(dim=1).values
    pi_losses = policy_loss(state.log_alpha.detach().exp().unsqueeze(1), logp, q_pi)  # [S]
    a_losses = alpha_loss(state.log_alpha.unsqueeze(1), logp.detach(), hp.target_entropy)  # [S]
    actor_ok = torch.isfinite(pi_losses) & torch.isfinite(a_losses)
    actor_skipped = [s for s in _bad_seeds(actor_ok) if s not in skipped]
    partial = _Snapshot(state, actor_skipped, ("actor", "alpha")) if actor_skipped else None
    zero = torch.zeros_like(pi_losses)
    state.actor_opt.zero_grad(set_to_none=True)
    torch.where(actor_ok, pi_losses, zero).sum().backward()
    state.actor_opt.step()
    state.alpha_opt.zero_grad(set_to_none=True)
    torch.where(actor_ok, a_losses, zero).sum().backward()
    state.alpha_opt.step()
    state.critic.requires_grad_(True)

    with torch.no_grad():
        torch._foreach_lerp_(list(state.critic_target.parameters()), list(state.critic.parameters()), hp.tau)
    if partial is not None:
        partial.restore()
    if whole is not None:
        whole.restore()

    flags = torch.zeros(seeds)
    flags[skipped] = 1.0
    actor_flags = torch.zeros(seeds)
    actor_flags[actor_skipped] = 1.0
    return {
        "critic/loss": q_losses.detach(),
        "critic/q_mean": q.detach().mean(dim=(1, 2)),
        "critic/target_mean": target.mean(dim=1),
        "actor/loss": pi_losses.detach(),
        "actor/entropy": -logp.detach().mean(dim=1),
        "alpha/loss": a_losses.detach(),
        "alpha/value": state.log_alpha.detach().exp(),
        "faults/skipped": flags,
        "faults/actor_skipped": actor_flags,
    }


def stacked_alpha(log_alpha: torch.Tensor) -> list[float]:
    """The seeds' temperatures as floats (for logs)."""
    return [math.exp(float(v)) for v in log_alpha.detach().cpu()]
