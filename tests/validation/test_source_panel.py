"""The synthetic panel through a sim-stepping source (issue 31, item 6): matched to the real panel's
starts and draws, so with no gap and no correction it replays the real panel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.sac import Actor
from pipeline.sim_env import SimEnv
from scenarios.library import get as scenario
from validation.panels import PanelSpec, real_panel
from validation.source_panel import SourcePanelError, source_panel


def _actor() -> Actor:
    torch.manual_seed(0)
    return Actor(11, 3, 16, 1, -5.0, 2.0).eval()


def test_with_no_gap_the_sim_source_panel_replays_the_real_panel_under_the_drawn_physics() -> None:
    """Gap ``none`` makes the real plant the sim: the sim source's episodes from the same starts
    under the same drawn payloads end as the plant's did (the sim steps from float32 observations,
    so returns agree to rounding, not bit for bit)."""
    spec = PanelSpec("Hopper-v5", (scenario("hopper_heavy_torso"),), episodes=4, max_steps=60, num_envs=4)
    actors = {"a": _actor()}
    real, starts = real_panel(spec, actors)
    synth = source_panel(spec, starts, actors, SimEnv("Hopper-v5", drop_range_factor=1.0))
    for cond in ("nominal", "hopper_heavy_torso"):
        r, s = real["a"][cond], synth["a"][cond]
        assert np.array_equal(r.length, s.length), cond
        np.testing.assert_allclose(s.returns, r.returns, rtol=1e-3)
        assert s.synthetic.all() and not s.invalid.any()
    heavy = [d for d in starts.draws["hopper_heavy_torso"][0] if d["family"] == "payload"]
    assert heavy and 0.05 <= heavy[0]["mass"] <= 0.2  # the draws the panel replayed, in the scenario's range


def test_a_scenario_the_sim_cannot_replay_is_refused_naming_it() -> None:
    spec = PanelSpec("Hopper-v5", (scenario("hopper_push"),), episodes=2, max_steps=30, num_envs=2)
    actors = {"a": _actor()}
    _, starts = real_panel(spec, actors)
    with pytest.raises(SourcePanelError, match=r"hopper_push: .* not \['push'\]"):
        source_panel(spec, starts, actors, SimEnv("Hopper-v5", drop_range_factor=1.0))
