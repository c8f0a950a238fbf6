"""The real plant stepped from observed states (``robots.sim_step.PlantStepper``: the ``oracle``
source's physics): it must be the gapped plant's own step, unmodeled terms included."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import plant_transitions

from robots import gaps
from robots.sim_step import PlantStepper, SimStepper

# Model fields and every unmodeled term, strong enough that a step that missed one would show;
# no sensing noise, so the plant's observation is its state.
NOISELESS = {
    "name": "noiseless",
    "robot": "Hopper-v5",
    "description": "test profile",
    "parametric": [
        {"family": "mass_scale", "params": {"body": "torso", "scale": 1.2}},
        {"family": "friction_scale", "params": {"scale": 0.8}},
        {"family": "damping_scale", "params": {"joint": "all", "scale": 1.5}},
    ],
    "unmodeled": [
        {"term": "deadband", "params": {"actuator": "all", "width": 0.05}},
        {"term": "torque_speed", "params": {"actuator": "all", "no_load_speed": 8.0}},
        {"term": "joint_friction", "params": {"joint": "thigh_joint", "coulomb": 2.0}},
    ],
}


def test_the_plant_stepped_from_an_observation_is_the_gapped_plants_step() -> None:
    """Model fields and unmodeled terms: the gapped plant's next state and reward from the same
    observation and action, to float32 rounding; the sim alone misses them by far more."""
    profile = gaps.parse(NOISELESS)
    data = plant_transitions("Hopper-v5", 300, profile)
    assert np.abs(data["obs"][:, 5:]).max() < 10  # no clipped velocity
    nxt, rew, _ = PlantStepper("Hopper-v5", profile).step(data["obs"], data["act"])
    np.testing.assert_allclose(nxt, data["next_obs"], atol=2e-5)
    np.testing.assert_allclose(rew, data["rew"], atol=2e-5)
    sim, _, _ = SimStepper("Hopper-v5").step(data["obs"], data["act"])
    assert np.abs(sim - data["next_obs"]).max() > 100 * np.abs(nxt - data["next_obs"]).max()


def test_the_plants_sensing_noise_is_added_to_the_next_observation_from_its_own_stream() -> None:
    """The shipped ``default`` profile senses with noise of std 0.00125 on every field; two steppers
    with one seed agree, another seed differs."""
    data = plant_transitions("Hopper-v5", 200, gaps.parse(NOISELESS))
    profile = gaps.get("default", "Hopper-v5")
    quiet = gaps.parse({**NOISELESS, "parametric": [], "unmodeled": []})
    a, _, _ = PlantStepper("Hopper-v5", profile, seed=5).step(data["obs"], data["act"])
    b, _, _ = PlantStepper("Hopper-v5", profile, seed=5).step(data["obs"], data["act"])
    c, _, _ = PlantStepper("Hopper-v5", profile, seed=6).step(data["obs"], data["act"])
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    noise = (a - c).ravel() / np.sqrt(2)  # the difference of two independent draws
    assert noise.std() == pytest.approx(0.00125, rel=0.1)
    no_gap, _, _ = PlantStepper("Hopper-v5", quiet).step(data["obs"], data["act"])
    sim, _, _ = SimStepper("Hopper-v5").step(data["obs"], data["act"])
    np.testing.assert_allclose(no_gap, sim, atol=2e-6)


def test_a_profile_of_another_robot_is_refused() -> None:
    with pytest.raises(ValueError, match="is a profile of Walker2d-v5, not of Hopper-v5"):
        PlantStepper("Hopper-v5", gaps.get("default", "Walker2d-v5"))
