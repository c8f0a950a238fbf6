"""Gap profiles: the library loads, a bad profile is one line naming the file and the field, the
real plant differs from the sim exactly as the profile says, and ``none`` is the sim bit for bit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mujoco
import numpy as np
import pytest
import yaml
from helpers import rollout

import robots
from robots import gaps
from robots.perturbations import Perturbation, PerturbedEnv

GYM = robots.names("gymnasium")
DMC = robots.names("dm_control")
HOPPER_DEFAULT = gaps.LIBRARY / "Hopper-v5" / "default.yaml"


def test_every_gymnasium_robot_ships_none_default_and_hard_and_every_dm_control_robot_a_parametric_one() -> None:
    for robot in GYM:
        assert {"none", "default", "hard"} <= set(gaps.names(robot)), robot
        assert gaps.get("default", robot).unmodeled, f"{robot}: default has no unmodeled term"
    for robot in DMC:
        found = [gaps.get(n, robot) for n in gaps.names(robot)]
        assert found[0].is_none and any(p.parametric and not p.unmodeled for p in found[1:]), robot


@pytest.mark.parametrize("robot", ["Hopper-v5", "walker-walk"])
def test_gap_none_is_the_sim_bit_for_bit(robot: str) -> None:
    sim = rollout(robots.make(robot), 3, 60)
    assert np.array_equal(sim, rollout(robots.make(robot, gap="none"), 3, 60))
    assert np.array_equal(sim, rollout(robots.make(robot, gap=gaps.none(robot)), 3, 60))


def _profile(tmp_path: Path, edit: Any = None, base: Path = HOPPER_DEFAULT, name: str = "mine") -> Path:
    data = yaml.safe_load(base.read_text())
    data["name"] = name
    if edit is not None:
        edit(data)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_substep_loop_with_neutral_terms_is_the_sim_bit_for_bit(tmp_path: Path) -> None:
    """A deadband of 0 and a torque-speed limit no joint reaches change nothing: the per-physics-step
    loop that carries the unmodeled terms must then step exactly as Gymnasium's ``mj_step(nstep)``."""

    def neutral(d: dict[str, Any]) -> None:
        d["parametric"] = []
        d["unmodeled"] = [{"term": "deadband", "params": {"actuator": "all", "width": 0.0}},
                          {"term": "torque_speed", "params": {"actuator": "all", "no_load_speed": 1e12}}]  # fmt: skip

    path = _profile(tmp_path, neutral)
    env = robots.make("Hopper-v5", gap=str(path))
    assert isinstance(env, gaps.GappedEnv)
    assert np.array_equal(rollout(robots.make("Hopper-v5"), 5, 200), rollout(env, 5, 200))


def test_the_real_plant_differs_from_the_sim_and_keeps_its_model_under_a_scenario() -> None:
    sim, real = robots.make("Hopper-v5"), robots.make("Hopper-v5", gap="default")
    assert not np.allclose(rollout(sim, 2, 100), rollout(real, 2, 100))
    m_sim, m_real = sim.unwrapped.mj_model, real.unwrapped.mj_model  # type: ignore[attr-defined]
    torso = mujoco.mj_name2id(m_sim, mujoco.mjtObj.mjOBJ_BODY, "torso")
    scale = {(p.family, p.params.get("body", p.params.get("actuator", p.params.get("joint")))): p.params.get("scale")
             for p in gaps.get("default", "Hopper-v5").parametric}  # fmt: skip
    mass, gear, damping = scale[("mass_scale", "torso")], scale[("actuator_scale", "thigh_joint")], scale[
        ("damping_scale", "all")]  # fmt: skip
    assert mass > 1 and gear < 1 and damping > 1  # the profile's values, whatever its calibration
    assert m_real.body_mass[torso] == pytest.approx(mass * m_sim.body_mass[torso])
    np.testing.assert_allclose(m_real.actuator_gear[:, 0], gear * m_sim.actuator_gear[:, 0])
    np.testing.assert_allclose(m_real.dof_damping, damping * m_sim.dof_damping)
    # A scenario on the real plant starts from the real plant's model at every reset, not the sim's.
    under = PerturbedEnv(real, [Perturbation("payload", {"body": "torso", "mass": 2.0})])
    for seed in (0, 1):
        under.reset(seed=seed)
        assert m_real.body_mass[torso] == pytest.approx(mass * m_sim.body_mass[torso] + 2.0)
    a, b = rollout(under, 4, 50), rollout(under, 4, 50)
    assert np.array_equal(a, b), "the same seed must give the same real-plant trajectory (noise included)"


def test_deadband_and_torque_speed_act_on_the_command_as_written() -> None:
    model = robots.make("Hopper-v5").unwrapped.mj_model  # type: ignore[attr-defined]
    data = mujoco.MjData(model)
    terms = (gaps.Unmodeled("deadband", "all", {"width": 0.1}),
             gaps.Unmodeled("torque_speed", "thigh_joint", {"no_load_speed": 10.0, "stall": 1.0}))  # fmt: skip
    hook = gaps.substep_hook(model, terms)
    dof = model.jnt_dofadr[model.actuator_trnid[0, 0]]
    data.qvel[dof] = 5.0  # half the no-load speed: at most half the torque forward, all of it backward
    hook(model, data, np.array([0.9, 0.05, -0.5]))
    np.testing.assert_allclose(data.ctrl, [0.5, 0.0, -0.4])  # 0.9-0.1=0.8 capped at 0.5; 0.05 in the band
    hook(model, data, np.array([-0.9, 0.0, 0.0]))
    np.testing.assert_allclose(data.ctrl[0], -0.8)  # against the motion: only the deadband
    data.qvel[dof] = 15.0  # past the no-load speed: the motor can only brake
    hook(model, data, np.array([0.9, 0.0, 0.0]))
    np.testing.assert_allclose(data.ctrl[0], -0.5)


def test_joint_friction_is_a_position_dependent_force() -> None:
    model = robots.make("Hopper-v5").unwrapped.mj_model  # type: ignore[attr-defined]
    data = mujoco.MjData(model)
    hook = gaps.substep_hook(model, (gaps.Unmodeled("joint_friction", "foot_joint",
                                                    {"coulomb": 1.0, "slope": 2.0, "rest": 0.0}),))  # fmt: skip
    j = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, "foot_joint")
    data.qpos[model.jnt_qposadr[j]], data.qvel[model.jnt_dofadr[j]] = 0.5, 10.0
    hook(model, data, np.zeros(model.nu))
    assert data.qfrc_applied[model.jnt_dofadr[j]] == pytest.approx(-(1.0 + 2.0 * 0.5) * np.tanh(100.0))
    assert np.count_nonzero(data.qfrc_applied) == 1


BAD = {
    "impossible value": (lambda d: d["parametric"][2]["params"].update(scale=-0.5), "parametric[2].params.scale",
                         "not physical"),
    "impossible unmodeled value": (lambda d: d["unmodeled"][1]["params"].update(no_load_speed=0),
                                   "unmodeled[1].params.no_load_speed", "not physical"),
    "unknown top key": (lambda d: d.update(frobnicate=1), "gap", "unknown key(s) ['frobnicate']"),
    "unknown term key": (lambda d: d["unmodeled"][0]["params"].update(gain=2), "unmodeled[0].params",
                         "unknown key(s) ['gain']"),
    "unknown term": (lambda d: d["unmodeled"][0].update(term="backlash"), "unmodeled[0].term", "valid: torque_speed"),
    "unknown body": (lambda d: d["parametric"][0]["params"].update(body="tail"), "parametric[0].params.body",
                     "has no body 'tail'"),
    "a distribution": (lambda d: d["parametric"][1]["params"].update(scale={"uniform": [0.5, 0.9]}),
                       "parametric[1].params.scale", "one plant"),
    "a scenario family": (lambda d: d["parametric"].append({"family": "push", "params": {}}),
                          "parametric[7].family", "a scenario's family"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_profile_is_one_line_naming_the_file_and_the_field(tmp_path: Path, case: str) -> None:
    edit, field, why = BAD[case]
    path = _profile(tmp_path, edit)
    with pytest.raises(gaps.GapError) as err:
        gaps.get(str(path), "Hopper-v5")
    message = str(err.value)
    assert message.startswith(f"{path}: {field}: ") and why in message and "\n" not in message, message


def test_a_broken_file_and_a_profile_for_another_robot_are_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\nrobot: [Hopper-v5\n")
    with pytest.raises(gaps.GapError, match=f"^{broken}: cannot read"):
        gaps.get(str(broken), "Hopper-v5")
    with pytest.raises(gaps.GapError, match="the profile is for Hopper-v5, the run's robot is Walker2d-v5"):
        gaps.get(str(HOPPER_DEFAULT), "Walker2d-v5")
    with pytest.raises(gaps.GapError, match="unknown gap profile 'medium' for Hopper-v5; valid: none, default, hard"):
        gaps.get("medium", "Hopper-v5")


def test_unmodeled_terms_on_a_dm_control_robot_are_refused(tmp_path: Path) -> None:
    def add(d: dict[str, Any]) -> None:
        d["unmodeled"] = [{"term": "deadband", "params": {"actuator": "all", "width": 0.1}}]

    path = _profile(tmp_path, add, base=gaps.LIBRARY / "walker-walk" / "default.yaml")
    with pytest.raises(gaps.GapError, match=r"unmodeled\[0\]\.term: walker-walk is a dm_control robot.*hook"):
        gaps.get(str(path), "walker-walk")


def test_the_users_directory_is_searched_after_the_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "Hopper-v5").mkdir()
    _profile(tmp_path / "Hopper-v5", name="lab_unit_3")
    monkeypatch.setenv(gaps.PATH_ENV, str(tmp_path))
    assert gaps.names("Hopper-v5") == ["none", "default", "hard", "lab_unit_3"]
    assert gaps.get("lab_unit_3", "Hopper-v5").hash == gaps.get("default", "Hopper-v5").hash  # same content
    _profile(tmp_path / "Hopper-v5", name="default")
    with pytest.raises(gaps.GapError, match=r"Hopper-v5's gap profile 'default' is in two files"):
        gaps.names("Hopper-v5")
