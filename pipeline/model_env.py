"""The world model as a batched environment (after mbrl-lib's ``ModelEnv``).

Each row's step uses a randomly drawn elite; termination comes from the robot's own termination
function (exactly the plant's semantics); predictions that are NaN, infinite or far outside the
range of real states are dropped and counted, never stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from pipeline.sac import Actor
from pipeline.world_model import EnsembleDynamics, predict


@dataclass
class StepResult:
    """One batched model step."""

    next_obs: torch.Tensor
    reward: torch.Tensor
    terminated: torch.Tensor
    valid: torch.Tensor
    nonfinite: torch.Tensor
    out_of_range: torch.Tensor
    disagreement: torch.Tensor


class ModelEnv:
    """Steps many states at once through the world model."""

    def __init__(
        self,
        model: EnsembleDynamics,
        termination: Callable[[torch.Tensor], torch.Tensor],
        drop_range_factor: float,
    ) -> None:
        self.model, self.termination, self.factor = model, termination, drop_range_factor

    def step(self, obs: torch.Tensor, act: torch.Tensor, generator: torch.Generator) -> StepResult:
        out = predict(self.model, obs, act, generator)
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
    """Kept transitions of a batched rollout, flattened, with their rollout step, and counts."""

    obs: torch.Tensor
    act: torch.Tensor
    rew: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor
    rollout_step: torch.Tensor
    counts: dict[str, int] = field(default_factory=dict)
    disagreement: float = 0.0


def rollout(
    env: ModelEnv, actor: Actor, starts: torch.Tensor, length: int, generator: torch.Generator, chunk: int = 25_000
) -> Rollout:
    """Rolls ``length`` steps from every start under the (stochastic) policy.

    A row stops at termination or at its first dropped prediction; dropped predictions are never
    stored. Starts are processed in chunks to bound memory.
    """
    parts: list[list[torch.Tensor]] = [[] for _ in range(6)]
    counts = {"starts": int(starts.shape[0]), "kept": 0, "dropped_nonfinite": 0, "dropped_out_of_range": 0,
              "terminated": 0}  # fmt: skip
    dis_sum, dis_n = 0.0, 0
    act_dim = actor.act_dim
    for begin in range(0, starts.shape[0], chunk):
        obs = starts[begin : begin + chunk]
        for step in range(1, length + 1):
            if obs.shape[0] == 0:
                break
            with torch.no_grad():
                eps = torch.randn((obs.shape[0], act_dim), generator=generator, device=generator.device)
                act, _ = actor.sample(obs, eps.to(obs.device))
            res = env.step(obs, act, generator)
            keep = res.valid
            counts["dropped_nonfinite"] += int(res.nonfinite.sum())
            counts["dropped_out_of_range"] += int(res.out_of_range.sum())
            counts["terminated"] += int(res.terminated.sum())
            counts["kept"] += int(keep.sum())
            dis_sum += float(res.disagreement.sum())
            dis_n += int(res.disagreement.numel())
            for store, value in zip(
                parts,
                (obs[keep], act[keep], res.reward[keep], res.next_obs[keep], res.terminated[keep],
                 torch.full((int(keep.sum()),), step, dtype=torch.int16, device=obs.device)),
                strict=True,
            ):  # fmt: skip
                store.append(value)
            alive = keep & ~res.terminated
            obs = res.next_obs[alive]
    obs_t, act_t, rew_t, next_t, term_t, step_t = (torch.cat(p) for p in parts)
    return Rollout(obs_t, act_t, rew_t, next_t, term_t, step_t, counts, dis_sum / max(dis_n, 1))
