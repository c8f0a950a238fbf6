"""A training run wired to its scenarios: the one function that ``synthgate train`` and the training
arms (``validation.arms``, ``synthgate run``) call.

``pipeline`` does not import ``scenarios``, so ``pipeline.train.train`` takes the scenarios' pieces
ready-made: the perturbations that real exposure draws from, and (``targeted=true``) the targeted
generator. This module builds both from the run's scenarios and starts the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.config import TrainConfig
from pipeline.train import train
from robots.perturbations import Perturbation
from scenarios.generator import for_config
from scenarios.library import Scenario


def train_with_scenarios(cfg: TrainConfig, scenario_list: Sequence[Scenario]) -> list[dict[str, Any]]:
    """Trains (or resumes) the run ``cfg`` describes, its real exposure and targeted generator
    covering ``scenario_list``; returns its summary (one per seed of a stacked run).

    Raises:
        ScenarioError: the targeted generator cannot be built for these scenarios.
        ConfigError, RunStopped, Interrupted, OSError: as ``pipeline.train.train``.
    """
    exposures: dict[str, Sequence[Perturbation]] = {s.name: s.perturbations for s in scenario_list}
    if cfg.stacked_seeds:  # SAC only: no world model, so no targeted generator
        from pipeline.stacked_train import train_stacked

        return train_stacked(cfg, exposures)
    return [train(cfg, exposures, for_config(cfg, scenario_list))]
