"""The sim stepped from observed states, the corrected sim and the system-identified sim (issue 31)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from helpers import hyper, plant_transitions

from pipeline.sim_residual import SimResidual, fit_sysid, sysid_perturbations
from robots import gaps
from robots.perturbations import Perturbation
from robots.sim_step import SimStepError, SimStepper, edited


def test_the_sim_stepped_from_an_observation_is_the_plants_step() -> None:
    """Hopper-v5's observation fixes its physics state but for x; the plant's own step is reproduced
    to float32 rounding (no velocity clipped at these speeds), reward included."""
    data = plant_transitions("Hopper-v5", 400)
    assert np.abs(data["obs"][:, 5:]).max() < 10  # no clipped velocity
    next_obs, rew, _ = SimStepper("Hopper-v5").step(data["obs"], data["act"])
    np.testing.assert_allclose(next_obs, data["next_obs"], atol=2e-6)
    np.testing.assert_allclose(rew, data["rew"], atol=1e-6)


def test_a_scenarios_physics_is_applied_per_row() -> None:
    data = plant_transitions("Hopper-v5", 50)
    stepper = SimStepper("Hopper-v5")
    heavy = edited(stepper.model, [Perturbation("payload", {"body": "torso", "mass": 5.0})])
    nominal, _, _ = stepper.step(data["obs"], data["act"])
    mixed, _, _ = stepper.step(data["obs"], data["act"], [heavy if i % 2 else stepper.model for i in range(50)])
    assert np.array_equal(mixed[::2], nominal[::2]) and not np.allclose(mixed[1::2], nominal[1::2])


def test_a_robot_whose_observation_is_not_checked_is_refused() -> None:
    with pytest.raises(SimStepError, match="cartpole-swingup: the sim can only be stepped from observed states for"):
        SimStepper("cartpole-swingup")


def test_a_zero_correction_is_the_sim_bit_for_bit() -> None:
    data = plant_transitions("Hopper-v5", 64, gap="default")
    hybrid = SimResidual("Hopper-v5", hyper(target="residual"))
    with torch.no_grad():  # the network outputs 0 in target space, and the target scaling is the identity
        hybrid.net.layers[-1].weight.zero_()
        hybrid.net.layers[-1].bias.zero_()
        hybrid.net.targets.mean.zero_()
        hybrid.net.targets.std.fill_(1.0)
    next_obs, rew = hybrid.predict(data["obs"], data["act"])
    sim_next, sim_rew, _ = hybrid.stepper.step(data["obs"], data["act"])
    assert np.array_equal(next_obs, sim_next) and np.array_equal(rew, sim_rew.astype(np.float32))


def test_the_correction_learns_the_gap_that_the_sim_misses() -> None:
    """On the real plant with the default gap, its sensor noise left out (an error no predictor can
    remove), the fitted correction halves the sim's error on held-out real steps (a small ensemble,
    3000 random-action transitions)."""
    default = gaps.get("default", "Hopper-v5")
    quiet = dataclasses.replace(default, parametric=tuple(p for p in default.parametric if p.family != "obs_noise"))
    train, held = plant_transitions("Hopper-v5", 3000, quiet, 1), plant_transitions("Hopper-v5", 500, quiet, 99)
    hybrid = SimResidual("Hopper-v5", hyper(target="residual", hidden=64, max_epochs=40, max_retrain_s=60.0))
    torch.manual_seed(0)
    hybrid.fit(train["obs"], train["act"], train["rew"], train["next_obs"], torch.Generator().manual_seed(0))
    sim_next, _, _ = hybrid.stepper.step(held["obs"], held["act"])
    corrected, _ = hybrid.predict(held["obs"], held["act"])
    scale = held["next_obs"].std(0) + 1e-6
    sim_err = np.mean(((sim_next - held["next_obs"]) / scale) ** 2)
    hybrid_err = np.mean(((corrected - held["next_obs"]) / scale) ** 2)
    assert hybrid_err < 0.5 * sim_err, (hybrid_err, sim_err)


def test_sysid_moves_the_sims_parameters_toward_the_real_plants() -> None:
    """A real plant whose only gap is every actuator at 0.7: the fit removes most of the sim's
    one-step error and moves the actuator scale toward 0.7 (from few random-action transitions the
    scales of mass, damping and strength trade off, so it need not land on it)."""
    real = edited(SimStepper("Hopper-v5").model, sysid_perturbations("Hopper-v5", [1.0, 1.0, 0.7, 1.0, 1.0]))
    data = plant_transitions("Hopper-v5", 600)
    stepper = SimStepper("Hopper-v5")
    data["next_obs"], _, _ = stepper.step(data["obs"], data["act"], [real] * 600)
    fitted = fit_sysid("Hopper-v5", data["obs"], data["act"], data["next_obs"], max_evals=200, rows=600)
    assert fitted.error_after < 0.1 * fitted.error_before
    assert 0.6 < fitted.scales["actuator_scale"] < 0.85, fitted.scales
