"""Conformance over every registered robot (issue 2): the contract every plant must keep."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import robots

ALL = robots.names()
GYM = robots.names("gymnasium")


def _rollout(name: str, seed: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    env = robots.make(name, seed=seed)
    act_rng = np.random.default_rng(1234)
    obs, _ = env.reset(seed=seed)
    observations, rewards = [obs], []
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(act_rng.uniform(-1, 1, env.action_space.shape))
        observations.append(obs)
        rewards.append(reward)
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return np.asarray(observations), np.asarray(rewards)


def test_registry_holds_the_required_records() -> None:
    required = {
        "cartpole-swingup", "pendulum-swingup", "cheetah-run", "walker-walk", "walker-run", "hopper-stand",
        "hopper-hop", "quadruped-walk", "quadruped-run", "humanoid-stand", "humanoid-walk", "humanoid-run",
        "finger-turn_hard", "reacher-hard", "manipulator-bring_ball",
        "HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Ant-v5", "Humanoid-v5",
    }  # fmt: skip
    assert required <= set(ALL)


@pytest.mark.filterwarnings("ignore:.*Box observation space m.*infinity")  # unbounded by design
@pytest.mark.parametrize("name", ALL)
def test_gymnasium_check_env(name: str) -> None:
    env = robots.make(name, seed=0)
    check_env(env, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_trajectory_and_observations_in_spec(name: str) -> None:
    a_obs, a_rew = _rollout(name, seed=7, steps=60)
    b_obs, b_rew = _rollout(name, seed=7, steps=60)
    np.testing.assert_array_equal(a_obs, b_obs)
    np.testing.assert_array_equal(a_rew, b_rew)
    env = robots.make(name)
    assert a_obs.dtype == np.float32
    assert a_obs.shape[1] == robots.get(name).layout.size == env.observation_space.shape[0]
    assert np.isfinite(a_obs).all()
    assert all(env.observation_space.contains(o) for o in a_obs)
    assert env.action_space.shape == (robots.get(name).action_dim,)
    assert np.all(env.action_space.low == -1.0) and np.all(env.action_space.high == 1.0)


@pytest.mark.parametrize("name", ALL)
def test_different_seeds_different_initial_states(name: str) -> None:
    env = robots.make(name)
    starts = [env.reset(seed=s)[0] for s in range(4)]
    assert all(not np.array_equal(starts[0], s) for s in starts[1:])


@pytest.mark.parametrize("name", ALL)
def test_make_seed_equals_reset_seed(name: str) -> None:
    first = robots.make(name, seed=11).reset()[0]
    second = robots.make(name).reset(seed=11)[0]
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", ALL)
def test_predicates_and_termination_are_batched_numpy_and_torch(name: str) -> None:
    record = robots.get(name)
    obs, _ = _rollout(name, seed=3, steps=40)
    tensor = torch.as_tensor(obs)
    for pred_name, value in record.failures(obs).items():
        value_t = record.failures(tensor)[pred_name]
        assert value.shape == (len(obs),) and value.dtype == bool, pred_name
        np.testing.assert_array_equal(value, value_t.numpy())
        # batched equals row by row
        rows = np.array([bool(record.failures(o)[pred_name]) for o in obs])
        np.testing.assert_array_equal(value, rows)
    term = record.termination(obs)
    assert term.shape == (len(obs),) and term.dtype == bool
    np.testing.assert_array_equal(term, record.termination(tensor).numpy())


@pytest.mark.parametrize("name", robots.names("locomotion"))
def test_every_locomotion_robot_can_fall_or_tip(name: str) -> None:
    assert {"fell", "tipped"} & set(robots.get(name).predicates)


@pytest.mark.parametrize("name", robots.names("manipulation"))
def test_every_manipulation_robot_can_lose_the_object_or_reach(name: str) -> None:
    assert {"object_lost", "out_of_reach"} & set(robots.get(name).predicates)


@pytest.mark.parametrize("name", robots.names("dm_control"))
def test_dm_control_never_terminates_and_truncates_at_the_time_limit(name: str) -> None:
    env = robots.make(name, seed=0, max_episode_steps=25)
    env.reset()
    for t in range(1, 26):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert not terminated
        assert truncated == (t == 25)
    assert not robots.get(name).termination(np.full((3, robots.get(name).layout.size), np.nan)).any()


@pytest.mark.parametrize("name", GYM)
def test_gym_termination_function_agrees_with_the_env(name: str) -> None:
    """The model-rollout termination equals the env's ``terminated`` on every random step."""
    record = robots.get(name)
    env = robots.make(name, seed=0)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    agree = terminations = 0
    for _ in range(3000):
        obs, _, terminated, truncated, _ = env.step(rng.uniform(-1, 1, record.action_dim))
        assert bool(record.termination(obs[None])[0]) == terminated
        agree += 1
        terminations += terminated
        if terminated or truncated:
            env.reset()
    assert agree == 3000
    if name != "HalfCheetah-v5":  # the check above must have been exercised on both outcomes
        assert terminations > 0


@pytest.mark.parametrize("name", ["cheetah-run", "Hopper-v5", "manipulator-bring_ball"])
def test_offscreen_rgb_rendering(name: str) -> None:
    env = robots.make(name, seed=0, render_width=48, render_height=32)
    env.reset()
    frame = env.render()
    assert frame.shape == (32, 48, 3) and frame.dtype == np.uint8
    assert frame.std() > 0  # not a blank image
    env.close()


@pytest.mark.parametrize("name", ["cartpole-swingup", "Hopper-v5"])
def test_action_repeat_equals_repeated_steps(name: str) -> None:
    single, repeated = robots.make(name, seed=5), robots.make(name, seed=5, action_repeat=3)
    single.reset()
    repeated.reset()
    rng = np.random.default_rng(0)
    for _ in range(4):
        act = rng.uniform(-0.3, 0.3, single.action_space.shape)
        total = 0.0
        for _ in range(3):
            obs, reward, *_ = single.step(act)
            total += float(reward)
        obs_r, reward_r, *_ = repeated.step(act)
        np.testing.assert_array_equal(obs, obs_r)
        assert float(reward_r) == pytest.approx(total, rel=1e-12)
    with pytest.raises(ValueError, match="action_repeat"):
        robots.make(name, action_repeat=0)
