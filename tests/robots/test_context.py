"""The perturbation context: layout per robot, hand-checked encoding of every family, nominal = zeros."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import robots
from robots.context import CONTEXT_FAMILIES, EVENT_FAMILIES, SENSING_FAMILIES, encode, push_velocity_change
from robots.perturbations import FAMILIES, SCENARIO_FAMILIES, Perturbation, PerturbedEnv, Trigger, Uniform

WALKER = robots.context_layout("walker-walk")


def _slots(vector: np.ndarray) -> dict[str, float]:
    return {k: round(v, 6) for k, v in WALKER.describe(vector).items()}


def test_every_scenario_family_is_context_event_or_sensing() -> None:
    assert sorted((*CONTEXT_FAMILIES, *EVENT_FAMILIES, *SENSING_FAMILIES)) == sorted(SCENARIO_FAMILIES)
    assert set(FAMILIES) - set(SCENARIO_FAMILIES) == {"armature_scale"}  # gap profiles' only


def test_walker_layout_names_its_slots() -> None:
    # 7 bodies (world excluded) x {mass_scale, payload}, 6 actuators, 9 joints, friction, latency, noise
    assert WALKER.size == 1 + 7 + 7 + 6 + 9 + 2
    assert WALKER.names[:2] == ("friction_scale", "mass_scale.torso")
    assert WALKER.index("actuator_scale.right_knee") == 1 + 7 + 7 + 1
    assert WALKER.names[-2:] == ("action_latency", "action_noise")
    with pytest.raises(KeyError, match="valid"):
        WALKER.index("payload.world")


def test_nominal_is_exactly_zero() -> None:
    assert not encode([], WALKER).any()
    events = [{"family": "push", "t": 200, "body": "torso", "force": 300.0},
              {"family": "obs_dropout", "t": 100, "mode": "hold"}]  # fmt: skip
    assert not encode(events, WALKER).any()
    assert encode([], WALKER).dtype == np.float32


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"family": "friction_scale", "scale": 0.2}, {"friction_scale": -0.8}),
        ({"family": "mass_scale", "body": "torso", "scale": 1.5}, {"mass_scale.torso": 0.5}),
        ({"family": "payload", "body": "torso", "mass": 4.0}, {"payload.torso": 4.0}),
        ({"family": "actuator_scale", "actuator": "right_knee", "scale": 0.3}, {"actuator_scale.right_knee": -0.7}),
        ({"family": "dead_actuator", "actuator": "left_hip"}, {"actuator_scale.left_hip": -1.0}),
        ({"family": "damping_scale", "scale": 2.0, "joint": "left_knee"}, {"damping_scale.left_knee": 1.0}),
        ({"family": "action_latency", "steps": 3}, {"action_latency": 3.0}),
        ({"family": "action_noise", "std": 0.05}, {"action_noise": 0.05}),
    ],
)
def test_each_family_by_hand(entry: dict[str, Any], expected: dict[str, float]) -> None:
    assert _slots(encode([{"t": 0, **entry}], WALKER)) == expected


def test_repeated_draws_compound_like_the_engine() -> None:
    active: list[dict[str, Any]] = [
        {"family": "friction_scale", "scale": 0.5},
        {"family": "friction_scale", "scale": 0.4},  # 0.5 * 0.4 = 0.2 -> -0.8
        {"family": "payload", "body": "torso", "mass": 1.0},
        {"family": "payload", "body": "torso", "mass": 2.5},  # 3.5 kg
        {"family": "actuator_scale", "actuator": "right_knee", "scale": 0.5},
        {"family": "dead_actuator", "actuator": "right_knee"},  # 0.5 * 0 -> -1
        {"family": "damping_scale", "scale": 3.0},  # joint: all -> every joint 2.0
    ]
    out = _slots(encode(active, WALKER))
    assert out["friction_scale"] == -0.8 and out["payload.torso"] == 3.5
    assert out["actuator_scale.right_knee"] == -1.0
    assert [out[f"damping_scale.{j}"] for j in ("rootz", "left_ankle")] == [2.0, 2.0]
    assert len([k for k in out if k.startswith("damping_scale.")]) == 9


def test_unknown_names_and_families_are_errors() -> None:
    with pytest.raises(KeyError, match=r"mass_scale\.wing"):
        encode([{"family": "mass_scale", "body": "wing", "scale": 2.0}], WALKER)
    with pytest.raises(ValueError, match="unknown perturbation family 'meteor'"):
        encode([{"family": "meteor"}], WALKER)


def test_plant_reports_what_the_context_encodes() -> None:
    # The applied friction (model array ratio) is the drawn one, and the context is that minus one.
    env = PerturbedEnv(robots.make("walker-walk"), [Perturbation("friction_scale", {"scale": Uniform(0.1, 0.3)})])
    nominal = env.pristine.geom_friction[:, 0].copy()
    _, info = env.reset(seed=5)
    applied = float(env.unwrapped.mj_model.geom_friction[0, 0] / nominal[0])  # type: ignore[attr-defined]
    ctx = encode(info["perturbations"], WALKER)
    assert ctx[WALKER.index("friction_scale")] == pytest.approx(applied - 1.0, abs=1e-6)
    assert np.count_nonzero(ctx) == 1


def test_context_appears_when_an_at_step_perturbation_fires() -> None:
    weak = Perturbation("actuator_scale", {"actuator": "right_knee", "scale": 0.25}, Trigger("at_step", step=2))
    env = PerturbedEnv(robots.make("walker-walk"), [weak])
    env.reset(seed=0)
    seen = []
    for _ in range(4):
        env.step(np.zeros(6, dtype=np.float32))
        seen.append(float(encode(env.active, WALKER)[WALKER.index("actuator_scale.right_knee")]))
    assert seen == [0.0, 0.0, -0.75, -0.75]


def test_push_velocity_change_by_hand() -> None:
    env = robots.make("walker-walk")
    model = env.unwrapped.mj_model  # type: ignore[attr-defined]
    layout = robots.get("walker-walk").layout
    mass = float(model.body_mass.sum())  # 28.54 kg
    force = push_velocity_change(model, layout, 0.025, {"body": "torso", "force": 300.0, "direction": (1.0, 0.0, 0.0),
                                                        "mode": "force"}, duration=10)  # fmt: skip
    # 300 N for 10 steps of 25 ms: 75 N s over 28.54 kg along x; nothing along z
    assert force == pytest.approx({"velocity.rootx": 75.0 / mass, "velocity.rootz": 0.0})
    foot = {"body": "right_foot", "force": 2.0, "direction": (3.0, 0.0, 4.0), "mode": "velocity"}
    velocity = push_velocity_change(model, layout, 0.025, foot, 1)
    # a limb's root is the torso's; direction normalised to (0.6, 0, 0.8)
    assert velocity == pytest.approx({"velocity.rootx": 1.2, "velocity.rootz": 1.6})
    quadruped = robots.make("quadruped-walk")
    with pytest.raises(ValueError, match="no slide joints"):
        push_velocity_change(quadruped.unwrapped.mj_model, robots.get("quadruped-walk").layout, 0.02,  # type: ignore[attr-defined]
                             {"body": "torso", "force": 1.0, "mode": "velocity"}, 1)  # fmt: skip
