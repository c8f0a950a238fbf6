"""The scenario's parameter space in unit coordinates: what the search moves over."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from robots.perturbations import Choice, Perturbation, Uniform
from scenarios.library import Scenario
from scenarios.search import (
    Proposal,
)
from scenarios.stress.config import StressError


@dataclass(frozen=True)
class Dim:
    """One random parameter of a scenario: perturbation ``index``'s parameter ``key``."""

    index: int
    family: str
    key: str
    dist: Uniform | Choice

    @property
    def name(self) -> str:
        return f"{self.family}[{self.index}].{self.key}"

    def describe(self) -> dict[str, Any]:
        if isinstance(self.dist, Uniform):
            return {"name": self.name, "uniform": [self.dist.low, self.dist.high]}
        return {"name": self.name, "choice": list(self.dist.options)}


class Space:
    """A scenario's random parameters: continuous ones (``Uniform``) on unit coordinates, discrete
    ones (``Choice``) as option indices. Fixed parameters stay as the scenario gives them."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        dims = [Dim(i, p.family, k, v) for i, p in enumerate(scenario.perturbations)
                for k, v in p.params.items() if isinstance(v, Uniform | Choice)]  # fmt: skip
        if not dims:
            raise StressError(
                f"scenario {scenario.name!r} has no random parameter (Uniform or Choice) to search: "
                "every perturbation is fixed, so there is one plant to evaluate, not a space to search"
            )
        self.cont = [d for d in dims if isinstance(d.dist, Uniform)]
        self.cat = [d for d in dims if isinstance(d.dist, Choice)]
        self.sizes = [len(d.dist.options) for d in self.cat]  # type: ignore[union-attr]

    def values(self, u: np.ndarray, c: np.ndarray) -> list[dict[str, Any]]:
        """The concrete parameters of one point, one mapping per perturbation (fixed ones kept)."""
        out = [dict(p.params) for p in self.scenario.perturbations]
        for d, x in zip(self.cont, u, strict=True):
            assert isinstance(d.dist, Uniform)
            out[d.index][d.key] = float(d.dist.low + float(x) * (d.dist.high - d.dist.low))
        for d, j in zip(self.cat, c, strict=True):
            assert isinstance(d.dist, Choice)
            out[d.index][d.key] = d.dist.options[int(j)]
        return out

    def perturbations(self, u: np.ndarray, c: np.ndarray) -> list[Perturbation]:
        """The scenario's perturbations with every parameter fixed at this point."""
        return [replace(p, params=v) for p, v in zip(self.scenario.perturbations, self.values(u, c), strict=True)]

    def named(self, u: np.ndarray, c: np.ndarray) -> dict[str, Any]:
        """``{dim name: value}`` of one point, for reports."""
        values = self.values(u, c)
        return {d.name: values[d.index][d.key] for d in [*self.cont, *self.cat]}

    def design(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` points spread over the whole space (a Latin hypercube on the continuous parameters:
        one point in each ``1/n`` slice of every range; options cycled), for model data: a few
        episodes then cover the edges of the space, where rare failures live, not only its bulk."""
        from scipy.stats import qmc

        u = qmc.LatinHypercube(d=len(self.cont), seed=rng).random(n) if self.cont else np.zeros((n, 0))
        c = np.stack([rng.permutation(np.arange(n) % k) for k in self.sizes], axis=1) if self.sizes else np.zeros(
            (n, 0), dtype=np.int64)  # fmt: skip
        return u, c

    def nominal_sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` points from the scenario's own distribution."""
        return Proposal.nominal(len(self.cont), self.sizes).sample(n, rng)
