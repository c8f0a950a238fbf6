"""What a scenario's failure means (issue 32): any of the robot's failure predicates, or an early
end by the plant; the scenario's named predicate is reported beside it."""

from __future__ import annotations

import numpy as np
import torch

from pipeline.config import TrainConfig
from pipeline.sac import Actor
from scenarios.library import get
from validation.panels import Episodes, PanelSpec, real_panel


def _shipped_hopper() -> Actor:
    sac = TrainConfig().sac
    actor = Actor(11, 3, sac.hidden, sac.depth, sac.log_std_min, sac.log_std_max)
    actor.load_state_dict(torch.load("pipeline/starting_policies/Hopper-v5/policy.pt", weights_only=True)["actor"])
    return actor.eval()


def test_an_episode_that_falls_without_tipping_fails_a_tipping_scenario() -> None:
    """The shipped Hopper-v5 policy on the hard gap falls (the plant ends every episode early) but
    does not tip: under ``hopper_heavy_torso`` (named predicate ``tipped``) every episode fails,
    while ``tipped`` alone, the old definition, counts none."""
    spec = PanelSpec("Hopper-v5", (get("hopper_heavy_torso"),), episodes=6, max_steps=300, num_envs=6, gap="hard")
    eps = real_panel(spec, {"a": _shipped_hopper()})[0]["a"]["hopper_heavy_torso"]
    assert (eps.length < spec.max_steps).all()  # every episode ended early
    assert eps.failed.all() and eps.metric("failure_rate", spec.max_steps).mean() == 1.0
    assert eps.named_failed is not None and int(eps.named_failed.sum()) == 0
    assert (eps.failure_step <= eps.length).all() and (eps.failure_step > 0).all()
    assert spec.conditions()[1].named == ("tipped",) and "fell" in spec.conditions()[1].predicates


def test_logs_written_before_the_new_definition_read_back_without_a_named_column() -> None:
    old = {"returns": [1.0], "failed": [True], "failure_step": [3], "length": [3], "invalid": [False],
           "synthetic": [False]}  # fmt: skip
    eps = Episodes.from_json(old)
    assert eps.named_failed is None and "named_failed" not in eps.to_json()
    both = Episodes.concat([eps, Episodes.from_json({**old, "named_failed": [False]})])
    assert both.named_failed is None and np.array_equal(both.failed, [True, True])
