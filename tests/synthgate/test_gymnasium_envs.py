"""gymnasium.make("synthgate/<robot>") gives the registry's plants, scenarios included (issue 21, item 12)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import robots
import scenarios
from robots.perturbations import PerturbedEnv


def _rollout(env: gym.Env, seed: int, steps: int = 20) -> np.ndarray:
    obs, _ = env.reset(seed=seed)
    out = [obs]
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        obs, *_ = env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
        out.append(obs)
    env.close()
    return np.stack(out)


def test_every_robot_is_registered_and_is_the_plant() -> None:
    from synthgate import gymnasium_envs

    assert [f"synthgate/{name}" for name in robots.names()] == gymnasium_envs.IDS
    assert all(env_id in gym.registry for env_id in gymnasium_envs.IDS)
    for name in ("cartpole-swingup", "Hopper-v5"):  # one dm_control and one Gymnasium MuJoCo robot
        env = gym.make(f"synthgate/{name}")
        assert env.spec is not None and env.spec.id == f"synthgate/{name}"
        np.testing.assert_array_equal(_rollout(env, 3), _rollout(robots.make(name), 3))


def test_a_scenario_wraps_the_plant_in_its_perturbations() -> None:
    import synthgate.gymnasium_envs  # noqa: F401 - registers the ids

    env = gym.make("synthgate/walker-walk", scenario="push_recovery", max_episode_steps=250)
    wrapped = env.env
    while not isinstance(wrapped, PerturbedEnv):
        wrapped = wrapped.env  # type: ignore[attr-defined]
    assert [p.family for p in wrapped.perturbations] == [p.family for p in scenarios.get("push_recovery").perturbations]
    env.reset(seed=0)
    steps, done, pushed = 0, False, []
    while not done:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        steps, done = steps + 1, terminated or truncated
        pushed += ["push" in str(wrapped.active)]
    assert pushed.index(True) == 200  # the scenario's push fires at t = 200 (0-based)
    assert steps == 250 and truncated  # the robot's setting max_episode_steps, passed through
    env.close()
    with pytest.raises(ValueError, match="push_recovery is a scenario of walker-walk, not of Hopper-v5"):
        gym.make("synthgate/Hopper-v5", scenario="push_recovery")


def test_the_module_prefixed_id_needs_no_import() -> None:
    env = gym.make("synthgate.gymnasium_envs:synthgate/pendulum-swingup")
    assert env.observation_space.shape == robots.make("pendulum-swingup").observation_space.shape
    env.close()
