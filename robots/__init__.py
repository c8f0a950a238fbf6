"""robots: the plants synthgate trains on, one registry record per embodiment.

Public API::

    robots.names(tag=None) -> list[str]
    robots.get(name) -> RobotRecord
    robots.make(name, seed=None, gap=None, **overrides) -> gymnasium.Env
    robots.gaps.get(name, robot) -> GapProfile        (the real plant's gap profiles)

``robots`` imports no other synthgate package (docs/architecture.md, layers).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import gymnasium as gym
import numpy as np

from robots import dmc, gym_mujoco
from robots.context import ContextLayout
from robots.layout import Field, LayoutView, ObsLayout
from robots.registry import TAGS, Registry, RobotRecord, UnknownNameError

REGISTRY = Registry()
dmc.register(REGISTRY)
gym_mujoco.register(REGISTRY)


def names(tag: str | None = None) -> list[str]:
    """Registered robot names, sorted; ``tag`` keeps those carrying it (see ``robots.TAGS``)."""
    return REGISTRY.names(tag)


def get(name: str) -> RobotRecord:
    """The record of a robot; an unknown name raises :class:`UnknownNameError` listing the valid ones."""
    return REGISTRY.get(name)


def make(name: str, seed: int | None = None, gap: Any = None, **overrides: Any) -> gym.Env[np.ndarray, np.ndarray]:
    """Builds a robot's plant: the sim, or with ``gap`` the real plant.

    Args:
        name: a registered robot name.
        seed: seeds the first ``reset()``; the same seed gives the same trajectory.
        gap: a gap profile (``robots.gaps.GapProfile``) or its name or path; ``None`` or ``none``
            builds the sim itself, exactly as before gaps existed.
        **overrides: replace the record's default settings (``max_episode_steps``,
            ``render_width``...).

    Returns:
        A ``gymnasium.Env`` with a flat float32 observation and actions in [-1, 1].

    Raises:
        UnknownNameError: unknown robot.
        TypeError: an override that is not one of the record's settings (the message lists them).
    """
    record = get(name)
    unknown = set(overrides) - set(record.defaults)
    if unknown:
        raise TypeError(
            f"robot {name!r} has no setting(s) {sorted(unknown)}; valid settings: {sorted(record.defaults)}"
        )
    env: gym.Env[np.ndarray, np.ndarray] = record.factory(seed=seed, **{**record.defaults, **overrides})
    if gap is None:
        return env
    from robots import gaps  # robots.gaps reads the registry through this package

    profile = gap if isinstance(gap, gaps.GapProfile) else gaps.get(str(gap), name)
    if profile.robot != name:
        raise ValueError(f"gap profile {profile.tag} is for {profile.robot}, not {name}")
    return env if profile.is_none else gaps.GappedEnv(env, profile)


@cache
def context_layout(name: str) -> ContextLayout:
    """The perturbation-context layout of a robot (``robots.context``), read off its MuJoCo model."""
    from robots.context import context_layout as layout_of

    env = make(name)
    try:
        return layout_of(env.unwrapped.mj_model)  # type: ignore[attr-defined]
    finally:
        env.close()


__all__ = [
    "TAGS",
    "ContextLayout",
    "Field",
    "LayoutView",
    "ObsLayout",
    "RobotRecord",
    "UnknownNameError",
    "context_layout",
    "get",
    "make",
    "names",
]
