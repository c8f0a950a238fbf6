"""The perturbation engine: applies, fires at its trigger, is deterministic, and resets exactly."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import model_arrays, rollout

import robots
from robots.perturbations import Choice, Perturbation, PerturbedEnv, Trigger, Uniform, actuator_names, body_names

MODEL_CASES = {
    "friction_scale": ({"scale": Uniform(0.1, 0.3)}, "geom_friction"),
    "mass_scale": ({"body": "torso", "scale": Uniform(1.2, 2.0)}, "body_mass"),
    "payload": ({"body": "torso", "mass": Uniform(1.0, 5.0)}, "body_mass"),
    "actuator_scale": ({"actuator": "right_knee", "scale": Uniform(0.2, 0.5)}, "actuator_gear"),
    "dead_actuator": ({"actuator": Choice(("right_knee", "left_knee"))}, "actuator_gear"),
    "damping_scale": ({"scale": Uniform(2.0, 4.0), "joint": "all"}, "dof_damping"),
}


@pytest.mark.parametrize("family", list(MODEL_CASES))
def test_model_perturbation_applies_is_seeded_and_reset_restores_exactly(family: str) -> None:
    params, field = MODEL_CASES[family]
    env = PerturbedEnv(robots.make("walker-walk"), [Perturbation(family, params)])
    pristine = model_arrays(env.pristine)
    env.reset(seed=3)
    first = model_arrays(env.unwrapped.mj_model)  # type: ignore[attr-defined]
    assert not np.array_equal(first[field], pristine[field])
    changed = [n for n in pristine if not np.array_equal(first[n], pristine[n])]
    assert changed == [field] or set(changed) == {"body_mass", "body_inertia"}
    env.reset(seed=3)
    np.testing.assert_array_equal(model_arrays(env.unwrapped.mj_model)[field], first[field])  # type: ignore[attr-defined]
    a, b = rollout(env, 5, 30), rollout(env, 5, 30)
    np.testing.assert_array_equal(a, b)
    env.restore_nominal()
    after = model_arrays(env.unwrapped.mj_model)  # type: ignore[attr-defined]
    for name, value in pristine.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)


def test_restored_plant_behaves_exactly_like_a_fresh_one() -> None:
    perturbed = PerturbedEnv(robots.make("cheetah-run"), [Perturbation("friction_scale", {"scale": 0.2})])
    rollout(perturbed, 1, 20)
    perturbed.restore_nominal()

    def raw(env: object) -> np.ndarray:
        rng = np.random.default_rng(0)
        out = [env.reset(seed=7)[0]]  # type: ignore[attr-defined]
        out += [env.step(rng.uniform(-1, 1, 6).astype(np.float32))[0] for _ in range(40)]  # type: ignore[attr-defined]
        return np.asarray(out)

    np.testing.assert_array_equal(raw(perturbed.env), raw(robots.make("cheetah-run")))


def test_push_fires_at_its_step_for_its_duration() -> None:
    push = Perturbation("push", {"body": "torso", "force": 300.0, "direction": (1.0, 0.0, 0.0)},
                        Trigger("at_step", step=10, duration=5))  # fmt: skip
    pushed = rollout(PerturbedEnv(robots.make("walker-walk"), [push]), 2, 30)
    plain = rollout(PerturbedEnv(robots.make("walker-walk"), []), 2, 30)
    np.testing.assert_array_equal(pushed[:11], plain[:11])  # identical up to the observation before step 10
    assert not np.array_equal(pushed[11], plain[11])


def test_velocity_impulse_every_n_steps() -> None:
    kick = Perturbation("push", {"body": "torso", "force": 2.0, "mode": "velocity"}, Trigger("every_n_steps", every=5))
    env = PerturbedEnv(robots.make("Hopper-v5"), [kick])
    env.reset(seed=0)
    for _ in range(11):
        env.step(np.zeros(3, dtype=np.float32))
    assert [a["t"] for a in env.active] == [5, 10]


def test_obs_dropout_and_bias_touch_only_their_fields() -> None:
    drop = Perturbation(
        "obs_dropout", {"mode": "zeros", "fields": ("velocity",)}, Trigger("at_step", step=3, duration=4)
    )
    bias = Perturbation("obs_bias", {"bias": 0.5, "fields": ("height",)})
    env = PerturbedEnv(robots.make("walker-walk"), [drop, bias])
    plain = PerturbedEnv(robots.make("walker-walk"), [])
    obs, ref = rollout(env, 4, 10), rollout(plain, 4, 10)
    vel, height = env.layout.slice("velocity"), env.layout.slice("height")
    assert (obs[4:8, vel] == 0).all() and (obs[8:, vel] != 0).any()
    np.testing.assert_allclose(obs[:, height], ref[:, height] + 0.5, rtol=1e-6)
    orient = env.layout.slice("orientations")
    np.testing.assert_array_equal(obs[:, orient], ref[:, orient])


def test_action_latency_delays_actions_by_k_steps() -> None:
    delayed = PerturbedEnv(robots.make("cartpole-swingup"), [Perturbation("action_latency", {"steps": 2})])
    plain = PerturbedEnv(robots.make("cartpole-swingup"), [])
    actions = np.linspace(-1, 1, 8, dtype=np.float32).reshape(8, 1)
    delayed.reset(seed=1)
    plain.reset(seed=1)
    got = [delayed.step(a)[0] for a in actions]
    want = [plain.step(a)[0] for a in [np.zeros(1, np.float32)] * 2 + list(actions[:-2])]
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_names_are_checked_with_the_valid_options() -> None:
    with pytest.raises(ValueError, match=r"no body 'knee' in this robot; valid: .*right_thigh"):
        PerturbedEnv(robots.make("walker-walk"), [Perturbation("payload", {"body": "knee", "mass": 1.0})])
    with pytest.raises(ValueError, match=r"no actuator 'hip' .*right_hip"):
        PerturbedEnv(robots.make("walker-walk"), [Perturbation("dead_actuator", {"actuator": "hip"})])
    with pytest.raises(ValueError, match="unknown parameters"):
        Perturbation("payload", {"bodie": "torso"})
    with pytest.raises(ValueError, match="valid: on_reset, at_step, every_n_steps"):
        Trigger("sometimes")
    with pytest.raises(ValueError, match="min 2 > max 1"):
        Uniform(2, 1)
    assert "torso" in body_names(robots.make("walker-walk").unwrapped.mj_model)  # type: ignore[attr-defined]
    assert actuator_names(robots.make("Hopper-v5").unwrapped.mj_model)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["walker-walk", "cheetah-run", "Hopper-v5", "manipulator-bring_ball"])
def test_every_model_array_is_restored_on_four_robots(name: str) -> None:
    model = robots.make(name).unwrapped.mj_model  # type: ignore[attr-defined]
    body = body_names(model)[1]
    actuator = actuator_names(model)[0]
    ps = [
        Perturbation("friction_scale", {"scale": Uniform(0.1, 0.5)}),
        Perturbation("mass_scale", {"body": body, "scale": Uniform(0.5, 2.0)}),
        Perturbation("payload", {"body": body, "mass": 2.0}),
        Perturbation("actuator_scale", {"actuator": actuator, "scale": 0.3}),
        Perturbation("damping_scale", {"scale": 3.0}),
    ]
    env = PerturbedEnv(robots.make(name), ps)
    pristine = model_arrays(env.pristine)
    rollout(env, 9, 15)
    assert any(not np.array_equal(model_arrays(env.unwrapped.mj_model)[n], v) for n, v in pristine.items())  # type: ignore[attr-defined]
    env.restore_nominal()
    after = model_arrays(env.unwrapped.mj_model)  # type: ignore[attr-defined]
    assert all(np.array_equal(after[n], v) for n, v in pristine.items())


def test_reported_parameters_are_the_applied_ones() -> None:
    env = PerturbedEnv(robots.make("walker-walk"), [
        Perturbation("friction_scale", {"scale": Uniform(0.1, 0.9)}),
        Perturbation("action_latency", {"steps": Choice((1, 2, 3))}),
    ])  # fmt: skip
    for seed in range(5):
        _, info = env.reset(seed=seed)
        friction, latency = info["perturbations"]
        applied = env.unwrapped.mj_model.geom_friction[:, 0] / env.pristine.geom_friction[:, 0]  # type: ignore[attr-defined]
        np.testing.assert_allclose(applied, friction["scale"], rtol=1e-12)
        assert len(env._queue) == latency["steps"]


def test_velocity_push_lands_on_the_joint_along_its_direction_on_walker() -> None:
    """walker's root joints are (rootz, rootx, rooty): an x push must change rootx, not rootz."""
    kick = Perturbation("push", {"body": "torso", "force": 2.0, "direction": (1.0, 0.0, 0.0), "mode": "velocity"},
                        Trigger("at_step", step=0))  # fmt: skip
    pushed, plain = PerturbedEnv(robots.make("walker-walk"), [kick]), PerturbedEnv(robots.make("walker-walk"), [])
    a, b = pushed.reset(seed=2)[0], plain.reset(seed=2)[0]
    np.testing.assert_array_equal(a, b)
    a, b = pushed.step(np.zeros(6, np.float32))[0], plain.step(np.zeros(6, np.float32))[0]
    view_a, view_b = pushed.layout.view(a), plain.layout.view(b)
    dx = float(view_a["velocity.rootx"] - view_b["velocity.rootx"])
    dz = float(view_a["velocity.rootz"] - view_b["velocity.rootz"])
    assert abs(dx - 2.0) < 0.5 and abs(dz) < 0.5, (dx, dz)


def test_root_velocity_change_maps_by_axis_and_matches_the_model_side() -> None:
    from robots.context import push_velocity_change
    from robots.perturbations import root_velocity_change

    env = robots.make("walker-walk")
    model = env.unwrapped.mj_model  # type: ignore[attr-defined]
    torso = body_names(model).index("torso")
    names = {int(model.jnt_dofadr[j]): n for j, n in enumerate(_joint_names(model))}
    change = {names[d]: v for d, v in root_velocity_change(model, torso, np.array([1.5, 0.0, -0.5]))}
    assert change == {"rootz": -0.5, "rootx": 1.5}  # the hinge rooty gets nothing
    push = {"body": "torso", "force": 2.0, "direction": (1.0, 0.0, 0.0), "mode": "velocity"}
    keys = push_velocity_change(model, env.unwrapped.layout, 0.025, push, 1)  # type: ignore[attr-defined]
    assert keys == {"velocity.rootz": 0.0, "velocity.rootx": 2.0}


def _joint_names(model: object) -> list[str]:
    import mujoco

    return [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, i) for i in range(model.njnt)]  # type: ignore[attr-defined]


class _Sent:
    """Records the actions that reach the plant (under the perturbation engine)."""

    def __init__(self) -> None:
        self.actions: list[np.ndarray] = []


def test_action_noise_draws_its_std_once_per_episode() -> None:
    import gymnasium as gym

    sent = _Sent()

    class Recorder(gym.Wrapper):  # type: ignore[type-arg]
        def step(self, action: np.ndarray) -> Any:
            sent.actions.append(np.asarray(action).copy())
            return self.env.step(action)

    noise = Perturbation("action_noise", {"std": Choice((0.01, 0.1))})
    env = PerturbedEnv(Recorder(robots.make("walker-walk")), [noise])
    seen = set()
    for seed in range(6):
        _, info = env.reset(seed=seed)
        std = info["perturbations"][0]["std"]
        seen.add(std)
        sent.actions.clear()
        for _ in range(60):
            env.step(np.zeros(6, np.float32))
        measured = float(np.std(np.asarray(sent.actions)))
        # Redrawn every step, the noise would be a mixture of both stds (about 0.071) in every episode.
        assert abs(measured / std - 1.0) < 0.2, (seed, std, measured)
    assert seen == {0.01, 0.1}
