"""The targeted generator: synthetic data for named failure modes, not generic volume.

For each scenario, every model rollout phase:

1. **Starts near failure.** Candidate starts are real states (a uniform pool of at most
   ``pool`` rows of the real buffer) where the scenario's failure predicate does not hold yet.
   Each gets the weight ``w = exp(-d / proximity)``, where ``d`` is its distance to the nearest
   real state where the predicate *does* hold (the ``next_obs`` of real transitions, at most
   ``failures`` of them), measured in observation columns standardized by the real data's std and
   divided by ``sqrt(obs_dim)`` (a root-mean-square distance per column). Starts are drawn with
   replacement in proportion to ``w``. With no real failure in the buffer yet, the weights are
   uniform (reported as ``failures_found: 0``).
2. **The perturbation.** Parameter families get their context: each start draws the scenario's
   parameters from their distributions and :func:`robots.context.encode` turns them into the
   context its rollout carries. A ``push`` is a state impulse: the pushed body's root velocity
   columns change by :func:`robots.context.push_velocity_change` at the start. Every perturbation
   applies from the rollout's first step, whatever its trigger on the plant (a rollout is a branch
   at the moment the scenario is active). Sensing families cannot be generated: a scenario with
   one is refused with a :class:`~scenarios.library.ScenarioError`.
3. **Rollouts** of the world model under the current (stochastic) policy, which does not see the
   context (:func:`pipeline.model_env.rollout`).
4. **Disagreement drop.** A rollout is dropped, all its transitions, when any of its steps' ensemble
   disagreement (std across elites of the next-state means, averaged over columns) exceeds
   ``disagreement`` times the mean disagreement of the same model on a sample of real transitions
   (with their real contexts). Dropped rollouts and transitions are counted.
5. **Provenance**: the loop stores the kept transitions with origin ``model/<version>:<scenario>``,
   their context in the buffer's ``ctx`` column and their rollout step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import robots
from pipeline import diagnostics
from pipeline.buffer import ReplayBuffer
from pipeline.config import TrainConfig
from pipeline.model_env import ModelEnv, Rollout, rollout
from pipeline.sac import Actor
from pipeline.targeting import PhysicsDraw, TargetedRollouts
from pipeline.world_model import EnsembleDynamics
from robots.context import CONTEXT_FAMILIES, EVENT_FAMILIES, SENSING_FAMILIES, encode, push_velocity_change
from robots.perturbations import MODEL_FAMILIES, Perturbation, draw
from scenarios.library import Scenario, ScenarioError


def proximity_weights(
    candidates: torch.Tensor, failures: torch.Tensor, scale: torch.Tensor, length: float, chunk: int = 4096
) -> tuple[torch.Tensor, torch.Tensor]:
    """``exp(-d / length)`` per candidate, ``d`` the RMS standardized distance to the nearest failure.

    Args:
        candidates: ``[n, obs_dim]`` states.
        failures: ``[m, obs_dim]`` states where the predicate holds (``m >= 1``).
        scale: ``[obs_dim]`` per-column std to standardize by (floored at 1e-6).
        length: the proximity length scale.

    Returns:
        The weights ``[n]`` and the distances ``[n]``.
    """
    s = scale.clamp_min(1e-6)
    f = failures / s
    dist = torch.empty(candidates.shape[0], device=candidates.device)
    for begin in range(0, candidates.shape[0], chunk):
        c = candidates[begin : begin + chunk] / s
        dist[begin : begin + chunk] = torch.cdist(c, f).min(dim=1).values / math.sqrt(candidates.shape[1])
    return torch.exp(-dist / length), dist


def drop_disagreeing(result: Rollout, threshold: float) -> tuple[Rollout, int, int]:
    """Drops every rollout (all transitions sharing a ``start``) with a step whose disagreement
    exceeds ``threshold``.

    Returns:
        The kept transitions (their counts' ``kept`` updated and ``dropped_disagreement`` added),
        the number of rollouts dropped and of transitions dropped.
    """
    if result.obs.shape[0] == 0:
        return result, 0, 0
    n_starts = int(result.start.max()) + 1
    worst = torch.zeros(n_starts, device=result.start.device)
    worst = worst.scatter_reduce(0, result.start, result.step_disagreement, reduce="amax", include_self=False)
    bad = worst > threshold
    keep = ~bad[result.start]
    present = torch.zeros(n_starts, dtype=torch.bool, device=bad.device)
    present[result.start] = True
    kept, transitions = result.select(keep), int((~keep).sum())
    kept.counts["kept"] = int(keep.sum())
    kept.counts["dropped_disagreement"] = kept.counts.get("dropped_disagreement", 0) + transitions
    return kept, int((bad & present).sum()), transitions


@dataclass(frozen=True)
class _Target:
    scenario: Scenario
    predicate: Any
    context: tuple[Perturbation, ...]
    pushes: tuple[Perturbation, ...]


class TargetedGenerator:
    """Makes synthetic data for each of a robot's scenarios (the :class:`pipeline.targeting.Targeter`
    the MBPO loop calls). See the module docstring for each step.

    Raises:
        ScenarioError: scenarios of another robot, or a family the generator cannot apply.
    """

    def __init__(
        self,
        scenarios: Sequence[Scenario],
        robot: str,
        *,
        proximity: float,
        disagreement: float,
        drop_range_factor: float,
        pool: int = 20_000,
        failures: int = 2_000,
    ) -> None:
        self.record = robots.get(robot)
        self.context_layout = robots.context_layout(robot)
        env = robots.make(robot)
        base: Any = env.unwrapped
        self.mj_model, self.control_timestep = base.mj_model, float(base.control_timestep)
        env.close()
        self.targets: list[_Target] = []
        self._unit_push: dict[tuple[Any, ...], dict[str, float]] = {}
        for s in scenarios:
            if s.robot != robot:
                raise ScenarioError(f"{s.source}: robot: {s.name} is a scenario of {s.robot}, not of {robot}")
            sensing = [p.family for p in s.perturbations if p.family in SENSING_FAMILIES]
            if sensing:
                raise ScenarioError(
                    f"{s.source}: perturbations: the targeted generator cannot apply the sensing families {sensing} "
                    f"(no context slot, no state impulse); it applies {list(CONTEXT_FAMILIES + EVENT_FAMILIES)}"
                )
            pushes = tuple(p for p in s.perturbations if p.family in EVENT_FAMILIES)
            for p in pushes:  # a body with no observed slide velocity is an error now, not mid-run
                self._push_change(p, np.random.default_rng(0))
            context = tuple(p for p in s.perturbations if p.family in CONTEXT_FAMILIES)
            self.targets.append(_Target(s, self.record.predicate(s.predicate), context, pushes))
        self.proximity, self.disagreement, self.factor = proximity, disagreement, drop_range_factor
        self.pool, self.failures = pool, failures

    @property
    def scenarios(self) -> list[str]:
        return [t.scenario.name for t in self.targets]

    def _push_change(self, p: Perturbation, rng: np.random.Generator) -> dict[str, float]:
        """One draw of a push's velocity change. The change is linear in the drawn ``force``, so the
        change per unit force is computed once per (body, mode, direction, duration) and scaled."""
        drawn = {k: draw(v, rng) for k, v in p.params.items()}
        key = (drawn["body"], drawn.get("mode", "force"), tuple(drawn.get("direction", ())), p.trigger.duration)
        if key not in self._unit_push:
            try:
                self._unit_push[key] = push_velocity_change(self.mj_model, self.record.layout, self.control_timestep,
                                                            {**drawn, "force": 1.0}, p.trigger.duration)  # fmt: skip
            except ValueError as err:
                raise ScenarioError(f"push on {self.record.name}: {err}") from None
        return {k: v * float(drawn["force"]) for k, v in self._unit_push[key].items()}

    def physics(
        self, real: ReplayBuffer, counts: Sequence[int], generator: torch.Generator, distinct: int = 64
    ) -> list[PhysicsDraw]:
        """Each scenario's rollout starts for a source that steps the sim (``sim``, ``sim_sysid``,
        ``sim_residual``): ``counts[i]`` real starts near scenario ``i``'s failure (pushed as for the
        model), and at most ``distinct`` draws of its parameter perturbations, start ``j`` taking draw
        ``j % distinct`` (one MuJoCo model per draw, not per start). Scenario ``i`` with an actuation
        family (latency, action noise) is refused: a one-step sim has no action history.

        Raises:
            ScenarioError: a scenario with an actuation family (:func:`for_config` refuses it first).
        """
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator).item()))
        out = []
        for target, n in zip(self.targets, counts, strict=True):
            actuation = [p.family for p in target.context if p.family not in MODEL_FAMILIES]
            if actuation:
                raise ScenarioError(f"{target.scenario.source}: perturbations: a source that steps the sim applies "
                                    f"model edits and pushes only, not {actuation}")  # fmt: skip
            if n == 0:
                continue
            obs, stats = self.starts(target, real, n, generator)
            obs = self.push(target, obs, rng)
            m = min(n, distinct)
            active = [[{"family": p.family, **{k: draw(v, rng) for k, v in p.params.items()}} for p in target.context]
                      for _ in range(m)]  # fmt: skip
            ctx = np.stack([encode(a, self.context_layout) for a in active]) if active else np.zeros((0, 0))
            index = np.arange(n) % m
            out.append(PhysicsDraw(target.scenario.name, obs, index, active, ctx[index].astype(np.float32), stats))
        return out

    def contexts(self, target: _Target, n: int, rng: np.random.Generator) -> np.ndarray:
        """``[n, ctx_dim]``: each start's own draw of the scenario's parameter perturbations."""
        out = np.zeros((n, self.context_layout.size), dtype=np.float32)
        if target.context:
            for i in range(n):
                active = [
                    {"family": p.family, **{k: draw(v, rng) for k, v in p.params.items()}} for p in target.context
                ]
                out[i] = encode(active, self.context_layout)
        return out

    def push(self, target: _Target, starts: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """The starts with each push's velocity change (one draw per start) added."""
        if not target.pushes:
            return starts
        delta = np.zeros(tuple(starts.shape), dtype=np.float32)  # built on the host, added in one operation
        for i in range(starts.shape[0]):
            for p in target.pushes:
                for key, dv in self._push_change(p, rng).items():
                    delta[i, self.record.layout.slice(key)] += dv
        return starts + torch.as_tensor(delta, device=starts.device)

    def starts(
        self, target: _Target, real: ReplayBuffer, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """``n`` real start states drawn by proximity to the scenario's failure predicate."""
        size = real.size
        pool = torch.randint(0, size, (min(size, self.pool),), generator=generator, device=generator.device)
        pool = pool.to(real.device)
        candidates = real.obs[pool]
        failed_now = torch.as_tensor(target.predicate(candidates), dtype=torch.bool, device=real.device)
        if bool((~failed_now).any()):
            candidates = candidates[~failed_now]
        fails = torch.as_tensor(target.predicate(real.next_obs[:size]), dtype=torch.bool, device=real.device)
        failed = real.next_obs[:size][fails]
        stats: dict[str, Any] = {"failures_found": int(failed.shape[0]), "candidates": int(candidates.shape[0])}
        if failed.shape[0] == 0:
            weights = torch.ones(candidates.shape[0], device=real.device)
        else:
            pick = torch.randint(0, failed.shape[0], (min(failed.shape[0], self.failures),), generator=generator,
                                 device=generator.device).to(real.device)  # fmt: skip
            weights, dist = proximity_weights(candidates, failed[pick], real.obs[:size].std(0), self.proximity)
            stats["distance_mean"] = float(dist.mean())
            if float(weights.sum()) <= 0.0:  # every candidate is far beyond the length scale
                weights = torch.ones_like(weights)
        chosen = torch.multinomial(weights.to(generator.device), n, replacement=True, generator=generator)
        if failed.shape[0]:
            stats["distance_chosen_mean"] = float(dist[chosen.to(dist.device)].mean())
        return candidates[chosen.to(real.device)], stats

    def __call__(
        self,
        model: EnsembleDynamics,
        actor: Actor,
        real: ReplayBuffer,
        starts: Sequence[int],
        length: int,
        generator: torch.Generator,
    ) -> list[TargetedRollouts]:
        """One :class:`~pipeline.targeting.TargetedRollouts` per scenario, ``starts[i]`` rollouts for scenario ``i``.

        Raises:
            ValueError: the model's context width is not this robot's context layout.
        """
        if model.ctx_dim != self.context_layout.size:
            raise ValueError(
                f"the world model takes ctx_dim={model.ctx_dim}; {self.record.name}'s context has "
                f"{self.context_layout.size} slots (train with context=true)"
            )
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator).item()))
        sample = torch.randint(0, real.size, (min(real.size, 2048),), generator=generator,
                               device=generator.device).to(real.device)  # fmt: skip
        real_ctx = real.ctx[sample] if real.ctx_dim else None
        baseline = diagnostics.disagreement(model, real.obs[sample], real.act[sample], real_ctx)
        threshold = self.disagreement * baseline
        env = ModelEnv(model, self.record.termination, self.factor)
        out = []
        for target, n in zip(self.targets, starts, strict=True):
            if n == 0:
                continue
            obs, stats = self.starts(target, real, n, generator)
            obs = self.push(target, obs, rng)
            ctx = torch.as_tensor(self.contexts(target, n, rng), device=obs.device)
            made = rollout(env, actor, obs, length, generator, ctx)
            kept, rollouts_dropped, transitions_dropped = drop_disagreeing(made, threshold)
            stats.update(threshold=threshold, real_disagreement=baseline)
            out.append(TargetedRollouts(target.scenario.name, kept, n, rollouts_dropped, transitions_dropped, stats))
        return out


def for_config(cfg: TrainConfig, chosen: Sequence[Scenario]) -> TargetedGenerator | None:
    """The generator a ``synthgate train`` config asks for (``targeted=true``) over the run's
    scenarios ``chosen`` (:func:`scenarios.library.resolve`), else None.

    Raises:
        ScenarioError: a scenario of another robot, or one the generator cannot apply.
    """
    if not cfg.targeted or not chosen:  # the config's own validation names the missing list
        return None
    if cfg.sources:  # a source that steps the sim: every scenario must be physics it can apply
        for s in chosen:
            actuation = [p.family for p in s.perturbations if p.family in CONTEXT_FAMILIES and p.family not in
                         MODEL_FAMILIES]  # fmt: skip
            if actuation:
                raise ScenarioError(f"{s.source}: perturbations: sources={cfg.sources} step the sim, which applies "
                                    f"model edits and pushes only, not {actuation}")  # fmt: skip
    return TargetedGenerator(
        list(chosen),
        cfg.robot,
        proximity=cfg.targeted_proximity,
        disagreement=cfg.targeted_disagreement,
        drop_range_factor=cfg.algo.drop_range_factor,
    )
