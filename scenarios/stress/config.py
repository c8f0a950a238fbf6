"""Options of the stress search, their parsing, and the constants of its phases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MODEL_SOURCES = ("auto", "run", "fit")
FIT_STREAM, STARTS_STREAM, CEM_STREAM, CONFIRM_STREAM, ESTIMATE_STREAM, MODEL_STREAM, NAIVE_STREAM = range(10, 17)
PREDICTED = 0.5
"""A point is a predicted failure when at least this share of its model rollouts fail."""
NEAR = 0.45
"""Weight of the nearness in the search's score: below ``PREDICTED``, so a point where no rollout fails
never scores as a predicted failure."""


class StressError(ValueError):
    """The stress search cannot run as asked; the message names the field, the value and what is allowed."""


@dataclass(frozen=True)
class StressConfig:
    """``synthgate stress <run_dir> scenario=<name> [key=value ...]``."""

    scenario: str
    """The library scenario whose parameter space is searched (``synthgate scenarios``)."""
    seed: int = 0
    """Seed of every random stream of the search: the same seed gives the same report."""
    horizon: int = 0
    """Control steps per episode (plant and model); 0: the run's episode length."""
    gap: str = ""
    """The real plant's gap profile (name or path) the plant episodes run on; empty: the run's ``gap``."""
    model: str = "auto"
    """``auto``: the run's model if it has context for this scenario, else ``fit``; ``run``; ``fit``."""
    fit_episodes: int = 8
    """Plant episodes collected to fit the search's model, at parameters spread over the space (Latin hypercube)."""
    run_transitions: int = 5_000
    """The run's most recent real transitions added to the fit (with their context; without one, only
    nominal transitions, context zero); 0: none."""
    fit_epochs: int = 100
    """Epoch cap of the fit (early stopping as in training; no wall-clock cap, so it is reproducible)."""
    rollouts: int = 8
    """World-model episodes per searched point (over reset states and the ensemble's elites)."""
    model_noise: bool = False
    """Sample each model step from the elite's Gaussian (MBPO's rollouts); False: the elite's mean."""
    samples: int = 400
    """Points per cross-entropy iteration."""
    iterations: int = 6
    """Cross-entropy iterations (it keeps sharpening after reaching predicted failures)."""
    elite_frac: float = 0.1
    """Share of points kept as elites each iteration."""
    min_std: float = 0.15
    """Floor of the proposal's spread per continuous parameter (unit coordinates: a share of its range),
    so a biased model cannot narrow the proposal onto part of the plant's failure region."""
    closeness: bool = True
    """Rank points where no model rollout fails by how close the rollouts come to failing (the
    predicate's margin, relative to its margin at the reset states), so the search has a gradient,
    and confirms the points nearest to failure, even when the model predicts no failure anywhere;
    the estimate's proposal refits likewise move towards the plant episodes nearest to failing when
    none has failed yet; false: failure share and earliness only, refits to plant failures only."""
    refine: bool = True
    """Keep iterating after the model predicts failures, concentrating the proposal on the points it
    predicts fail most surely and soonest (narrower; it can miss part of the plant's failure region)."""
    confirm: int = 10
    """Points of the search run on the plant."""
    confirm_refit: bool = True
    """Refit the proposal towards the confirmation's plant failures before the estimate's first
    episode (plant evidence the search already paid for; the estimate stays unbiased)."""
    plant_guided: bool = True
    """Every second confirmation is the searched point with the least plant margin predicted by a
    linear fit to every plant episode so far (needs ``closeness``); false: every one is the model's."""
    confirm_pool: int = 40
    """The confirmed points are spread over this many of the search's best distinct points (the best
    first, then each the farthest from those chosen); at most ``confirm``: the ``confirm`` best."""
    episodes: int = 150
    """Plant episodes of the importance-sampling estimate."""
    adapt: int = 50
    """Episodes of the estimate's first stage, after which the proposal is refitted to the plant's own
    failures (adaptive importance sampling); 0: one stage, all from the search's proposal."""
    defensive: float = 0.1
    """Share of the scenario's own distribution in the proposal (bounds every weight by 1/defensive)."""
    threads: int = 1
    """torch intra-op threads."""
    out: str = ""
    """Where the JSON report goes; empty: ``<run_dir>/stress/<scenario>-s<seed>.json``."""

    def validate(self) -> None:
        """Raises :class:`StressError` naming the field, the value and what is allowed."""
        if self.model not in MODEL_SOURCES:
            raise StressError(f"model={self.model!r}: valid: {', '.join(MODEL_SOURCES)}")
        for name in ("rollouts", "samples", "iterations", "threads"):
            if getattr(self, name) < 1:
                raise StressError(f"{name}={getattr(self, name)!r}: must be >= 1")
        for name in ("horizon", "fit_episodes", "run_transitions", "fit_epochs", "confirm", "confirm_pool", "episodes",
                     "adapt"):  # fmt: skip
            if getattr(self, name) < 0:
                raise StressError(f"{name}={getattr(self, name)!r}: must be >= 0")
        if self.episodes < 1:
            raise StressError(f"episodes={self.episodes!r}: the estimate needs at least 1 plant episode")
        if not 0.0 < self.elite_frac < 1.0:
            raise StressError(f"elite_frac={self.elite_frac!r}: must be in (0, 1)")
        if not 0.0 < self.min_std <= 1.0:
            raise StressError(f"min_std={self.min_std!r}: must be in (0, 1]")
        if not 0.0 < self.defensive <= 1.0:
            raise StressError(f"defensive={self.defensive!r}: must be in (0, 1]")


def parse_option(key: str, value: str) -> Any:
    """One ``key=value`` option of :class:`StressConfig`, typed.

    Raises:
        StressError: an unknown key (the valid ones are listed) or a value of the wrong type.
    """
    fields = StressConfig.__dataclass_fields__
    if key not in fields:
        raise StressError(f"unknown option {key!r}; valid: {', '.join(fields)}")
    kind = fields[key].type
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
    except ValueError:
        raise StressError(f"{key}={value!r}: must be {'an integer' if kind == 'int' else 'a number'}") from None
    if kind == "bool":
        if value.lower() not in ("true", "false"):
            raise StressError(f"{key}={value!r}: must be true or false")
        return value.lower() == "true"
    return value
