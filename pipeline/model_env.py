"""The world model as a batched environment (after mbrl-lib's ``ModelEnv``).

Each row's step uses a randomly drawn elite; termination comes from the robot's own termination
function (exactly the plant's semantics); predictions that are NaN, infinite or far outside the
range of real states are dropped and counted, never stored. A context (one row per start: the
scenario's perturbation parameters, :mod:`robots.context`) is carried unchanged along each row's
rollout; None means the nominal plant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch

from pipeline.sac import Actor
from pipeline.world_model import Draws, EnsembleDynamics, predict


@dataclass
class StepResult:
    """One batched model step."""

    next_obs: torch.Tensor
    reward: torch.Tensor
    terminated: torch.Tensor
    valid: torch.Tensor
    nonfinite: torch.Tensor
    out_of_range: torch.Tensor
    disagreement: torch.Tensor | None
    """The elites' disagreement per row; None when the step was asked not to compute it."""


class BatchedEnv(Protocol):
    """What :func:`rollout` steps: the world model (:class:`ModelEnv`) or the sim (:class:`pipeline.sim_env.SimEnv`)."""

    def step(
        self, obs: torch.Tensor, act: torch.Tensor, generator: torch.Generator, ctx: torch.Tensor | None = None
    ) -> StepResult: ...


class ModelEnv:
    """Steps many states at once through the world model."""

    def __init__(
        self,
        model: EnsembleDynamics,
        termination: Callable[[torch.Tensor], torch.Tensor],
        drop_range_factor: float,
    ) -> None:
        self.model, self.termination, self.factor = model, termination, drop_range_factor

    def step(
        self,
        obs: torch.Tensor,
        act: torch.Tensor,
        generator: torch.Generator,
        ctx: torch.Tensor | None = None,
        *,
        disagreement: bool = True,
        draws: Draws | None = None,
    ) -> StepResult:
        """One model step of every row (``ctx``: each row's context, None for nominal).

        ``disagreement`` and ``draws`` are :func:`pipeline.world_model.predict`'s: without the
        disagreement each row runs through its drawn elite only; ``draws`` are given by a caller that
        steps some rows of a larger batch and keeps each row's random numbers.
        """
        out = predict(self.model, obs, act, generator, ctx, disagreement=disagreement, draws=draws)
        next_obs, reward = out["next_obs"], out["reward"]
        finite = torch.isfinite(next_obs).all(-1) & torch.isfinite(reward)
        low, high = self.model.obs_low, self.model.obs_high
        span = (high - low) * self.factor
        in_range = ((next_obs >= low - span) & (next_obs <= high + span)).all(-1)
        valid = finite & in_range
        terminated = torch.as_tensor(self.termination(next_obs), dtype=torch.bool, device=obs.device)
        return StepResult(
            next_obs=next_obs,
            reward=reward,
            terminated=terminated & valid,
            valid=valid,
            nonfinite=~finite,
            out_of_range=finite & ~in_range,
            disagreement=out["disagreement"],
        )


@dataclass
class Rollout:
    """Kept transitions of a batched rollout, flattened, with their rollout step, and counts.

    ``start`` is the index (into the rollout's ``starts``) of the rollout each transition belongs
    to, ``step_disagreement`` the ensemble disagreement of the step that made it, and ``ctx`` its
    context (``[n, 0]`` when the rollout had none).
    """

    obs: torch.Tensor
    act: torch.Tensor
    rew: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor
    rollout_step: torch.Tensor
    counts: dict[str, int] = field(default_factory=dict)
    disagreement: float = 0.0
    start: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.int64))
    step_disagreement: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    ctx: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 0))

    def select(self, keep: torch.Tensor) -> Rollout:
        """The transitions where ``keep`` is True (counts and mean disagreement copied unchanged)."""
        return Rollout(self.obs[keep], self.act[keep], self.rew[keep], self.next_obs[keep], self.terminated[keep],
                       self.rollout_step[keep], dict(self.counts), self.disagreement, self.start[keep],
                       self.step_disagreement[keep], self.ctx[keep])  # fmt: skip


def rollout(
    env: BatchedEnv,
    actor: Actor,
    starts: torch.Tensor,
    length: int,
    generator: torch.Generator,
    ctx: torch.Tensor | None = None,
    chunk: int = 5_000,
) -> Rollout:
    """Rolls ``length`` steps from every start under the (stochastic) policy.

    A row stops at termination or at its first dropped prediction; dropped predictions are never
    stored. Starts are processed in chunks to bound memory and stay in cache (issue 10, 2 cores,
    100k starts: chunks of 5,000 ran 1.9x faster than 25,000 together with elites-only prediction;
    docs/performance.md). ``ctx`` (``[starts, ctx_dim]``, None
    for nominal) is each start's context, carried along its rollout; the policy never sees it.
    """
    if ctx is not None and ctx.shape[0] != starts.shape[0]:
        raise ValueError(f"ctx has {ctx.shape[0]} rows for {starts.shape[0]} starts: need one per start")
    parts: list[list[torch.Tensor]] = [[] for _ in range(9)]
    counts = {"starts": int(starts.shape[0]), "kept": 0, "dropped_nonfinite": 0, "dropped_out_of_range": 0,
              "terminated": 0}  # fmt: skip
    dis_sum, dis_n = 0.0, 0
    act_dim = actor.act_dim
    for begin in range(0, starts.shape[0], chunk):
        obs = starts[begin : begin + chunk]
        row = torch.arange(begin, begin + obs.shape[0], device=obs.device)
        c = ctx[begin : begin + chunk] if ctx is not None else None
        for step in range(1, length + 1):
            if obs.shape[0] == 0:
                break
            with torch.no_grad():
                eps = torch.randn((obs.shape[0], act_dim), generator=generator, device=generator.device)
                act, _ = actor.sample(obs, eps.to(obs.device))
            res = env.step(obs, act, generator, c)
            keep = res.valid
            counts["dropped_nonfinite"] += int(res.nonfinite.sum())
            counts["dropped_out_of_range"] += int(res.out_of_range.sum())
            counts["terminated"] += int(res.terminated.sum())
            counts["kept"] += int(keep.sum())
            assert res.disagreement is not None  # asked for: rollouts record it per transition
            dis_sum += float(res.disagreement.sum())
            dis_n += int(res.disagreement.numel())
            for store, value in zip(
                parts,
                (obs[keep], act[keep], res.reward[keep], res.next_obs[keep], res.terminated[keep],
                 torch.full((int(keep.sum()),), step, dtype=torch.int16, device=obs.device), row[keep],
                 res.disagreement[keep], c[keep] if c is not None else obs.new_zeros((int(keep.sum()), 0))),
                strict=True,
            ):  # fmt: skip
                store.append(value)
            alive = keep & ~res.terminated
            obs, row = res.next_obs[alive], row[alive]
            c = c[alive] if c is not None else None
    if not parts[0]:  # no starts at all
        width = ctx.shape[1] if ctx is not None else 0
        empty = starts.new_zeros((0, starts.shape[1]))
        none = torch.zeros(0, dtype=torch.int64)
        return Rollout(empty, starts.new_zeros((0, act_dim)), starts.new_zeros(0), empty, none.bool(), none.short(),
                       counts, 0.0, none, starts.new_zeros(0), starts.new_zeros((0, width)))  # fmt: skip
    obs_t, act_t, rew_t, next_t, term_t, step_t, start_t, dis_t, ctx_t = (torch.cat(p) for p in parts)
    return Rollout(obs_t, act_t, rew_t, next_t, term_t, step_t, counts, dis_sum / max(dis_n, 1), start_t, dis_t,
                   ctx_t)  # fmt: skip
