"""Model-guided stress search: look for a policy's failures in the world model, confirm them on the
plant, and estimate the plant's failure probability with importance weights (issue 5, item 6).

The phases (:func:`stress`):

1. **World model.** The run's checkpointed model when it has context for this scenario (a
   model-based run trained with ``context=true`` and real exposure to it); otherwise one fitted
   here on ``fit_episodes`` plant episodes at parameters spread over the space (a Latin
   hypercube, so a few episodes reach the edges where rare failures live), each transition with
   its context, plus the run's most recent real transitions.
2. **Search.** The cross-entropy method (:mod:`scenarios.search`) over the scenario's random
   parameters. Each point gets ``rollouts`` world-model episodes from the plant's own reset
   states under the policy's deterministic action; the perturbation enters as the context
   (parameter changes) or as a velocity impulse on the state at the push's trigger step
   (pushes). The model *predicts a failure* at a point when the scenario's predicate fires in at
   least half of them. The search's score is that share plus half its earliness (the mean of
   ``1 − t_fail/horizon``), so among points that always fail, the soonest rank first; with
   ``closeness`` (the default), plus how near the rollouts that do not fail come to the predicate
   (its margin), so the search has a gradient even where the model predicts no failure. With
   ``refine`` (the default) it keeps iterating after the first predicted failures, concentrating
   on the highest scores; ``min_std`` keeps the proposal's spread from collapsing onto what may
   be the model's bias.
3. **Confirmation.** ``confirm`` searched points are run on the plant with exactly those
   parameter values, one after the other: the model's picks, spread over its best
   ``confirm_pool``, alternating (``plant_guided``) with the point whose plant margin a linear fit
   to the plant episodes so far predicts least; a confirmed failure is one of them that failed.
4. **Estimate.** ``episodes`` plant episodes at points drawn from the fitted proposal (a defensive
   mixture with the scenario's own distribution), refitted first to the confirmation's plant
   failures and, after ``adapt`` episodes, to the first stage's; ``p̂ = mean(w·f)`` with ``w = p/q``, and a 95%
   interval. The model's prediction at each of these points is recorded too.

The report counts every plant episode (model data, confirmation, estimate), says which model was
used, and gives the confirmation rate: of the plant episodes at points where the model predicted
a failure, the share that failed on the plant.

The package's modules follow the phases: :mod:`~scenarios.stress.config` (options and their
parsing), :mod:`~scenarios.stress.space` (the parameter space), :mod:`~scenarios.stress.plant`
(plant episodes), :mod:`~scenarios.stress.model` (the world model's side: inputs, failure scoring,
the run's or a fitted model), :mod:`~scenarios.stress.phases` (the search end to end) and
:mod:`~scenarios.stress.report` (the JSON report and its table). Runs are read with
``pipeline.runs.load_run``, as everywhere.
"""

from __future__ import annotations

from scenarios.stress.config import (
    MODEL_SOURCES,
    NAIVE_STREAM,
    NEAR,
    PREDICTED,
    StressConfig,
    StressError,
    parse_option,
)
from scenarios.stress.model import fit_model, model_failures, model_inputs, run_model
from scenarios.stress.phases import confirmation, importance, plant_elites, pool, resolve, stress
from scenarios.stress.plant import PlantEpisodes, plant_episodes
from scenarios.stress.report import build_report, format_table
from scenarios.stress.space import Dim, Space

__all__ = [
    "MODEL_SOURCES", "NAIVE_STREAM", "NEAR", "PREDICTED", "Dim", "PlantEpisodes", "Space", "StressConfig",
    "StressError",
    "build_report", "confirmation", "fit_model", "format_table", "importance", "model_failures", "model_inputs",
    "parse_option", "plant_elites", "plant_episodes", "pool", "resolve", "run_model", "stress",
]  # fmt: skip
