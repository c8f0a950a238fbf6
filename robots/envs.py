"""Gymnasium environments over the two MuJoCo plant families: dm_control suite and Gymnasium.

Both wrappers give the same contract: a flat float32 observation in the record's documented
layout, actions in [-1, 1] (rescaled to the plant's own bounds), seeded determinism, time-limit
truncation kept apart from failure termination, and offscreen RGB rendering.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, SupportsFloat

# Offscreen rendering needs the GL backend chosen before dm_control or mujoco load it.
os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym
import mujoco
import numpy as np
from dm_control import suite
from gymnasium import spaces
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv

from robots.layout import ObsLayout


class _DropDeprecatedMjcf(logging.Filter):
    """dm_control's own XML (cheetah, walker...) triggers a mujoco deprecation warning through absl
    on every load; it is not the user's to act on, so it is dropped. Other absl messages pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "is deprecated and will be removed" not in record.getMessage()


logging.getLogger("absl").addFilter(_DropDeprecatedMjcf())


def seed_to_u32(seed: int) -> int:
    """Maps any integer seed to the 32-bit range legacy numpy RandomState accepts."""
    return int(np.random.SeedSequence(abs(int(seed))).generate_state(1)[0])


class _RescaledActions:
    """Maps [-1, 1] to a plant's action bounds."""

    def __init__(self, low: np.ndarray, high: np.ndarray) -> None:
        self.low = np.asarray(low, dtype=np.float64)
        self.high = np.asarray(high, dtype=np.float64)

    def __call__(self, action: np.ndarray) -> np.ndarray:
        a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        return self.low + (a + 1.0) * 0.5 * (self.high - self.low)


class DMCEnv(gym.Env[np.ndarray, np.ndarray]):
    """A dm_control suite task as a Gymnasium environment.

    dm_control tasks never fail: ``terminated`` is always False and the episode ends by
    truncation after ``max_episode_steps`` control steps (1000 for every suite task).
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 50}  # noqa: RUF012 - gymnasium.Env declares it so

    def __init__(
        self,
        domain: str,
        task: str,
        layout: ObsLayout,
        *,
        seed: int | None = None,
        max_episode_steps: int = 1000,
        action_repeat: int = 1,
        render_width: int = 128,
        render_height: int = 128,
        camera_id: int = 0,
    ) -> None:
        if action_repeat < 1:
            raise ValueError(f"action_repeat={action_repeat!r}: must be >= 1")
        random = seed_to_u32(seed) if seed is not None else None
        # The time limit is ours (truncation), so dm_control's own is switched off.
        self._env = suite.load(domain, task, task_kwargs={"random": random, "time_limit": float("inf")})
        self.layout = layout
        self._check_layout()
        spec = self._env.action_spec()
        self._rescale = _RescaledActions(spec.minimum, spec.maximum)
        self.action_space = spaces.Box(-1.0, 1.0, shape=spec.shape, dtype=np.float32)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(layout.size,), dtype=np.float32)
        self.max_episode_steps = int(max_episode_steps)
        self.action_repeat = int(action_repeat)
        self.render_mode = "rgb_array"
        self.metadata = {**self.metadata, "render_fps": round(1.0 / self.control_timestep)}
        self._render_size = (int(render_height), int(render_width))
        self._camera_id = int(camera_id)
        self._t = 0

    def _check_layout(self) -> None:
        spec = self._env.observation_spec()
        got = [(k, int(np.prod(v.shape))) for k, v in spec.items()]
        want = [(f.name, f.size) for f in self.layout.fields]
        if got != want:
            raise RuntimeError(f"dm_control observation {got} does not match the declared layout {want}")

    def _flatten(self, observation: dict[str, Any]) -> np.ndarray:
        return np.concatenate(
            [np.asarray(observation[f.name], dtype=np.float64).ravel() for f in self.layout.fields]
        ).astype(np.float32)

    @property
    def mj_model(self) -> mujoco.MjModel:
        """The plant's MuJoCo model (for perturbations)."""
        return self._env.physics.model.ptr

    @property
    def mj_data(self) -> mujoco.MjData:
        """The plant's MuJoCo data."""
        return self._env.physics.data.ptr

    @property
    def control_timestep(self) -> float:
        """Seconds per ``step()`` call (the plant's control step times ``action_repeat``)."""
        return float(self._env.control_timestep()) * self.action_repeat

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self._env.task.random.seed(seed_to_u32(seed))
        ts = self._env.reset()
        self._t = 0
        return self._flatten(ts.observation), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Applies ``action`` for ``action_repeat`` plant steps; the reward is their sum."""
        scaled = self._rescale(action)
        reward, terminated = 0.0, False
        for _ in range(self.action_repeat):
            ts = self._env.step(scaled)
            self._t += 1
            reward += float(ts.reward)
            terminated = bool(ts.discount == 0.0)
            if terminated or self._t >= self.max_episode_steps:
                break
        truncated = (not terminated) and self._t >= self.max_episode_steps
        return self._flatten(ts.observation), reward, terminated, truncated, {}

    def render(self) -> np.ndarray:
        h, w = self._render_size
        return np.asarray(self._env.physics.render(height=h, width=w, camera_id=self._camera_id))

    def close(self) -> None:
        self._env.close()


class GymMujocoEnv(gym.Env[np.ndarray, np.ndarray]):
    """A Gymnasium MuJoCo task (v5) with the synthgate contract.

    ``terminated`` is the task's own healthy check; ``truncated`` is its time limit.
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 50}  # noqa: RUF012 - gymnasium.Env declares it so

    def __init__(
        self,
        env_id: str,
        layout: ObsLayout,
        *,
        seed: int | None = None,
        max_episode_steps: int = 1000,
        action_repeat: int = 1,
        render_width: int = 128,
        render_height: int = 128,
    ) -> None:
        if action_repeat < 1:
            raise ValueError(f"action_repeat={action_repeat!r}: must be >= 1")
        self.action_repeat = int(action_repeat)
        self._env = gym.make(
            env_id,
            max_episode_steps=max_episode_steps,
            render_mode="rgb_array",
            width=render_width,
            height=render_height,
        )
        unwrapped = self._env.unwrapped
        if not isinstance(unwrapped, MujocoEnv):
            raise TypeError(f"{env_id} is not a Gymnasium MuJoCo environment")
        self._mujoco_env = unwrapped
        self.layout = layout
        inner = self._env.observation_space
        if inner.shape != (layout.size,):
            raise RuntimeError(f"{env_id} observation shape {inner.shape} does not match layout size {layout.size}")
        act = self._env.action_space
        assert isinstance(act, spaces.Box)
        self._rescale = _RescaledActions(act.low, act.high)
        self.action_space = spaces.Box(-1.0, 1.0, shape=act.shape, dtype=np.float32)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(layout.size,), dtype=np.float32)
        self.max_episode_steps = int(max_episode_steps)
        self.render_mode = "rgb_array"
        self.metadata = {**self.metadata, "render_fps": self._env.metadata.get("render_fps", 50)}
        self._pending_seed = seed

    @property
    def mj_model(self) -> mujoco.MjModel:
        """The plant's MuJoCo model (for perturbations)."""
        return self._mujoco_env.model

    @property
    def mj_data(self) -> mujoco.MjData:
        """The plant's MuJoCo data."""
        return self._mujoco_env.data

    @property
    def control_timestep(self) -> float:
        """Seconds per ``step()`` call (the task's ``dt`` times ``action_repeat``)."""
        return float(self._mujoco_env.dt) * self.action_repeat

    def set_substep_hook(self, hook: Callable[[mujoco.MjModel, mujoco.MjData, np.ndarray], None]) -> None:
        """Calls ``hook(model, data, command)`` before every physics step (a gap profile's unmodeled
        terms, ``robots.gaps``); ``command`` is the control step's ``ctrl``, and the hook writes
        ``data.ctrl`` and ``data.qfrc_applied`` itself.

        Gymnasium's task steps physics in ``_step_mujoco_simulation(ctrl, n_frames)`` (set ``ctrl``,
        ``mj_step`` ``n_frames`` times, ``mj_rnePostConstraint``); this replaces it **on this
        instance only** by the same loop, one physics step at a time, with the hook before each.
        The instance is this plant's own, so nothing leaks to other plants or processes (unlike
        ``mujoco.mjcb_control``, which is process-global).
        """
        env = self._mujoco_env

        def step_with_hook(ctrl: np.ndarray, n_frames: int) -> None:
            command = np.array(ctrl, dtype=np.float64)
            for _ in range(n_frames):
                hook(env.model, env.data, command)
                mujoco.mj_step(env.model, env.data)
            mujoco.mj_rnePostConstraint(env.model, env.data)

        env._step_mujoco_simulation = step_with_hook  # type: ignore[method-assign]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is None and self._pending_seed is not None:
            seed, self._pending_seed = self._pending_seed, None
        elif seed is not None:
            self._pending_seed = None
        obs, info = self._env.reset(seed=seed, options=options)
        return np.asarray(obs, dtype=np.float32), dict(info)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Applies ``action`` for ``action_repeat`` plant steps (fewer if the episode ends)."""
        scaled = self._rescale(action)
        total = 0.0
        for _ in range(self.action_repeat):
            obs, reward, terminated, truncated, info = self._env.step(scaled)
            total += float(reward)
            if terminated or truncated:
                break
        return np.asarray(obs, dtype=np.float32), total, bool(terminated), bool(truncated), dict(info)

    def render(self) -> np.ndarray:
        frame = self._env.render()
        assert isinstance(frame, np.ndarray)
        return frame

    def close(self) -> None:
        self._env.close()
