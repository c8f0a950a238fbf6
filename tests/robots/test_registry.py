"""The registry's rules: unique names, tags, clear errors, named layouts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import robots
from robots.layout import ObsLayout
from robots.registry import Registry


def test_unknown_robot_lists_the_valid_ones() -> None:
    with pytest.raises(robots.UnknownNameError) as err:
        robots.get("walker-fly")
    assert "walker-fly" in str(err.value) and "walker-walk" in str(err.value) and "Hopper-v5" in str(err.value)


def test_duplicate_registration_is_refused() -> None:
    reg = Registry()
    reg.register(robots.get("cheetah-run"))
    with pytest.raises(ValueError, match="registered twice"):
        reg.register(robots.get("cheetah-run"))


def test_names_filter_by_tag() -> None:
    manip = robots.names("manipulation")
    assert manip == ["finger-turn_hard", "manipulator-bring_ball", "reacher-hard"]
    assert "Hopper-v5" in robots.names("gymnasium") and "Hopper-v5" not in robots.names("dm_control")
    assert set(robots.names("locomotion")) | set(manip) | set(robots.names("control")) == set(robots.names())
    with pytest.raises(robots.UnknownNameError, match="valid tags"):
        robots.names("flying")


def test_make_refuses_unknown_settings() -> None:
    with pytest.raises(TypeError, match="max_episode_steps"):
        robots.make("cheetah-run", time_limit=3)


def test_layout_names_columns() -> None:
    layout = ObsLayout.of(("position", ("rootz", "rooty")), ("velocity", 3))
    assert layout.size == 5
    obs = np.arange(10, dtype=np.float32).reshape(2, 5)
    view = layout.view(obs)
    np.testing.assert_array_equal(view["position.rooty"], [1.0, 6.0])
    np.testing.assert_array_equal(view["velocity"], obs[:, 2:])
    assert torch.equal(layout.view(torch.as_tensor(obs))["position.rootz"], torch.tensor([0.0, 5.0]))
    with pytest.raises(KeyError, match="valid keys"):
        view["position.rootx"]
    with pytest.raises(ValueError, match="columns"):
        layout.view(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="duplicate"):
        ObsLayout.of(("a", 1), ("a", 2))


def test_predicates_read_named_quantities() -> None:
    walker = robots.get("walker-walk")
    obs = np.zeros((2, walker.layout.size), dtype=np.float32)
    height = walker.layout.slice("height.torso_z").start
    upright = walker.layout.slice("orientations.torso_xx").start
    obs[0, height], obs[0, upright] = 1.3, 1.0  # standing
    obs[1, height], obs[1, upright] = 0.2, -0.5  # down and upside down
    failures = walker.failures(obs)
    np.testing.assert_array_equal(failures["fell"], [False, True])
    np.testing.assert_array_equal(failures["tipped"], [False, True])
    with pytest.raises(robots.UnknownNameError, match="valid"):
        walker.predicate("exploded")
    np.testing.assert_array_equal(walker.predicate("fell")(obs), [False, True])


def test_hopper_v5_termination_by_hand() -> None:
    hopper = robots.get("Hopper-v5")
    obs = np.zeros((4, 11), dtype=np.float32)
    obs[:, 0] = [1.2, 0.6, 1.2, 1.2]  # rootz
    obs[:, 1] = [0.0, 0.0, 0.3, 0.0]  # rooty
    obs[3, 5] = np.nan
    np.testing.assert_array_equal(hopper.termination(obs), [False, True, True, True])


@pytest.mark.parametrize("name", robots.names())
def test_every_predicate_has_a_margin_whose_sign_is_the_predicate(name: str) -> None:
    """A margin is positive where its predicate does not fire and negative where it does (numpy and torch)."""
    record = robots.get(name)
    assert set(record.margins) == set(record.predicates)
    obs = np.random.default_rng(0).normal(0.0, 2.0, (400, record.layout.size)).astype(np.float32)
    for pred in record.predicates:
        for x in (obs, torch.as_tensor(obs)):
            fires = np.asarray(record.predicate(pred)(x), dtype=bool)
            margin = np.asarray(record.margin(pred)(x), dtype=np.float64)
            off_boundary = np.abs(margin) > 1e-6
            assert off_boundary.mean() > 0.9
            np.testing.assert_array_equal(fires[off_boundary], margin[off_boundary] < 0, err_msg=f"{name}/{pred}")


def test_margin_errors_name_the_predicate_and_the_valid_ones() -> None:
    hopper = robots.get("Hopper-v5")
    with pytest.raises(robots.registry.UnknownNameError, match="no failure predicate 'slipped'"):
        hopper.margin("slipped")
    with pytest.raises(ValueError, match=r"margins \['slipped'\] have no predicate"):
        dataclasses.replace(hopper, margins={"slipped": lambda q: q["torso_z"]})
    assert float(hopper.margin("tipped")(np.zeros((1, hopper.layout.size), np.float32))[0]) == pytest.approx(0.2)
