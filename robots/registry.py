"""The robot registry: one record per embodiment, one registry for all of them.

A record says how to build the plant (factory and default settings), how to read its
observation by name (layout and named physical quantities), which failures it can suffer
(predicates) and when a model rollout must end (termination, with exactly the plant's
semantics). Records are registered explicitly by :mod:`robots.dmc` and
:mod:`robots.gym_mujoco`; nothing is discovered by import side effects or by string lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from robots.layout import LayoutView, ObsLayout

AnyArray = np.ndarray | torch.Tensor
Quantity = Callable[[LayoutView], Any]
"""A named physical quantity read from an observation view (batched, numpy or torch)."""
Predicate = Callable[[Mapping[str, Any]], Any]
"""A failure predicate: named quantities in, a boolean per row out."""
Margin = Callable[[Mapping[str, Any]], Any]
"""A failure predicate's margin: named quantities in, per row how far the state is from failing, in
the quantity's own units: positive while the predicate does not fire, 0 or below where it does."""
Termination = Callable[[Any], Any]
"""``termination(next_obs) -> bool per row``: when a plant episode ends as a failure."""
Factory = Callable[..., gym.Env[np.ndarray, np.ndarray]]

TAGS = frozenset({"locomotion", "manipulation", "control", "dm_control", "gymnasium"})


class UnknownNameError(KeyError):
    """A name asked for is not registered; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError would quote the message.
        return str(self.args[0])


@dataclass(frozen=True)
class RobotRecord:
    """Everything the rest of synthgate needs to know about one embodiment.

    Attributes:
        name: registry key, e.g. ``walker-walk`` or ``Hopper-v5``.
        factory: builds the plant; called as ``factory(seed=..., **settings)``.
        defaults: default settings; ``robots.make`` accepts overrides of exactly these keys.
        layout: the flat observation's named layout.
        action_dim: size of the action vector (actions always live in [-1, 1]).
        quantities: named physical accessors, functions of the observation view.
        predicates: named failure predicates, functions of the quantities.
        termination: ends a model rollout exactly when the plant's episode would end by
            failure (``terminated``); time limits are never part of it.
        tags: a subset of :data:`TAGS`.
        description: one line for listings and docs.
        margins: per predicate (a subset of ``predicates``), its continuous margin (:data:`Margin`):
            how close a state is to failing, for searches that need a gradient where nothing fails.
    """

    name: str
    factory: Factory
    defaults: Mapping[str, Any]
    layout: ObsLayout
    action_dim: int
    quantities: Mapping[str, Quantity]
    predicates: Mapping[str, Predicate]
    termination: Termination
    tags: frozenset[str]
    description: str = ""
    margins: Mapping[str, Margin] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = self.tags - TAGS
        if unknown:
            raise ValueError(f"{self.name}: unknown tags {sorted(unknown)}; valid: {sorted(TAGS)}")
        stray = set(self.margins) - set(self.predicates)
        if stray:
            raise ValueError(
                f"{self.name}: margins {sorted(stray)} have no predicate; predicates: {sorted(self.predicates)}"
            )
        object.__setattr__(self, "margins", MappingProxyType(dict(self.margins)))
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))
        object.__setattr__(self, "quantities", MappingProxyType(dict(self.quantities)))
        object.__setattr__(self, "predicates", MappingProxyType(dict(self.predicates)))

    def read(self, obs: AnyArray) -> dict[str, Any]:
        """Every named quantity of a (batched) observation."""
        view = self.layout.view(obs)
        return {name: fn(view) for name, fn in self.quantities.items()}

    def failures(self, obs: AnyArray) -> dict[str, Any]:
        """Every failure predicate of a (batched) observation, by name."""
        q = self.read(obs)
        return {name: fn(q) for name, fn in self.predicates.items()}

    def predicate(self, name: str) -> Callable[[AnyArray], Any]:
        """One failure predicate as a function of the observation.

        Raises:
            UnknownNameError: the robot has no such predicate; the message lists its predicates.
        """
        if name not in self.predicates:
            raise UnknownNameError(
                f"robot {self.name!r} has no failure predicate {name!r}; valid: {sorted(self.predicates)}"
            )
        fn = self.predicates[name]
        return lambda obs: fn(self.read(obs))

    def margin(self, name: str) -> Callable[[AnyArray], Any]:
        """One predicate's margin (:data:`Margin`) as a function of the observation.

        Raises:
            UnknownNameError: the robot has no such predicate, or no margin for it; the message
                lists the predicates that have one.
        """
        self.predicate(name)
        if name not in self.margins:
            raise UnknownNameError(
                f"robot {self.name!r} has no margin for its predicate {name!r}; predicates with a margin: "
                f"{sorted(self.margins) or 'none'}"
            )
        fn = self.margins[name]
        return lambda obs: fn(self.read(obs))


@dataclass
class Registry:
    """Records by name, with a duplicate check and tag filtering."""

    _records: dict[str, RobotRecord] = field(default_factory=dict)

    def register(self, record: RobotRecord) -> RobotRecord:
        """Adds a record.

        Raises:
            ValueError: a record of that name is already registered.
        """
        if record.name in self._records:
            raise ValueError(f"robot {record.name!r} is registered twice")
        self._records[record.name] = record
        return record

    def get(self, name: str) -> RobotRecord:
        """The record of ``name``.

        Raises:
            UnknownNameError: not registered; the message lists every valid name.
        """
        try:
            return self._records[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown robot {name!r}; valid robots: {', '.join(sorted(self._records))}"
            ) from None

    def names(self, tag: str | None = None) -> list[str]:
        """Registered names, sorted, optionally only those carrying ``tag``."""
        if tag is not None and tag not in TAGS:
            raise UnknownNameError(f"unknown tag {tag!r}; valid tags: {', '.join(sorted(TAGS))}")
        return sorted(n for n, r in self._records.items() if tag is None or tag in r.tags)

    def __iter__(self) -> Iterator[RobotRecord]:
        return iter(self._records[n] for n in sorted(self._records))
