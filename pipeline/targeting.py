"""Targeted synthetic generation as the MBPO loop sees it: an interface and a result.

The generator itself (start states near each scenario's failure predicate, the scenario's
perturbation, rollouts under the current policy, dropping what the ensemble disagrees on) lives in
:mod:`scenarios.generator`: ``pipeline`` does not import ``scenarios`` (docs/architecture.md, layers), so
the command line builds it and passes it to :func:`pipeline.train.train`, as it passes the
real-exposure perturbations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from pipeline.buffer import ReplayBuffer
from pipeline.model_env import Rollout
from pipeline.sac import Actor
from pipeline.world_model import EnsembleDynamics


@dataclass
class TargetedRollouts:
    """What the generator made for one scenario in one rollout phase.

    ``rollout`` holds only the kept transitions (with their context and rollout step);
    ``transitions_dropped`` and ``rollouts_dropped`` count what the disagreement threshold threw
    away; ``stats`` are extra figures for the ledger's event line (threshold, proximity...).
    """

    scenario: str
    rollout: Rollout
    starts: int
    rollouts_dropped: int
    transitions_dropped: int
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class PhysicsDraw:
    """One scenario's starts for a source that steps the sim: the real start states (pushed),
    ``draw[j]``: the index into ``active`` of start ``j``'s parameter draw, ``active``: each draw's
    perturbations with fixed values (``{"family": ..., <param>: value}``), ``ctx``: each start's
    encoded context (``[n, ctx_dim]``), ``stats``: the start selection's figures."""

    scenario: str
    starts: torch.Tensor
    draw: np.ndarray
    active: list[list[dict[str, Any]]]
    ctx: np.ndarray
    stats: dict[str, Any] = field(default_factory=dict)


class Targeter(Protocol):
    """Makes synthetic data for named scenarios (implemented by :class:`scenarios.generator.TargetedGenerator`)."""

    @property
    def scenarios(self) -> Sequence[str]:
        """The scenarios it generates for, in order."""
        ...

    def __call__(
        self,
        model: EnsembleDynamics,
        actor: Actor,
        real: ReplayBuffer,
        starts: Sequence[int],
        length: int,
        generator: torch.Generator,
    ) -> list[TargetedRollouts]:
        """Rolls ``starts[i]`` rollouts of ``length`` steps for scenario ``i``; one result per scenario."""
        ...

    def physics(
        self, real: ReplayBuffer, counts: Sequence[int], generator: torch.Generator, distinct: int = 64
    ) -> list[PhysicsDraw]:
        """Starts and parameter draws per scenario for a source that steps the sim."""
        ...


def split_starts(total: int, share: float, scenarios: int) -> tuple[int, list[int]]:
    """Rollout starts for nominal rollouts and for each scenario.

    ``round(share * total)`` starts go to the scenarios, split as evenly as possible (the first
    ones get the remainder); the rest are nominal.
    """
    targeted = round(share * total) if scenarios else 0
    per, extra = divmod(targeted, max(scenarios, 1))
    return total - targeted, [per + (1 if i < extra else 0) for i in range(scenarios)]
