"""Gymnasium MuJoCo (v5) records.

Termination functions reproduce each task's ``is_healthy`` check (gymnasium 1.4.0 source,
default arguments) from the observation alone, so model rollouts end exactly where the plant's
episodes do. One condition cannot be seen in the observation and is documented, not guessed:
Hopper-v5 also fails when an unclipped joint velocity leaves (-100, 100), but its observation
clips velocities to [-10, 10]; only the observed part of that check is applied.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import partial
from typing import Any

from robots.envs import GymMujocoEnv
from robots.layout import ObsLayout
from robots.predicates import all_finite, all_within, zeros_like_batch
from robots.registry import Margin, Predicate, Quantity, Registry, RobotRecord, Termination

DEFAULTS: Mapping[str, Any] = {
    "max_episode_steps": 1000,
    "action_repeat": 1,
    "render_width": 128,
    "render_height": 128,
}

# Healthy ranges, gymnasium 1.4.0 defaults (open intervals unless noted).
HOPPER_Z_MIN = 0.7
HOPPER_ANGLE = 0.2
HOPPER_STATE = 100.0
WALKER_Z = (0.8, 2.0)
WALKER_ANGLE = 1.0
ANT_Z = (0.2, 1.0)  # closed interval in Ant-v5
HUMANOID_Z = (1.0, 2.0)
HALF_CHEETAH_TIPPED_PITCH = math.pi / 2

HALF_CHEETAH = ObsLayout.of(
    ("position", ("rootz", "rooty", "bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot")),
    ("velocity", ("rootx", "rootz", "rooty", "bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot")),
)
HOPPER = ObsLayout.of(
    ("position", ("rootz", "rooty", "thigh", "leg", "foot")),
    ("velocity", ("rootx", "rootz", "rooty", "thigh", "leg", "foot")),
)
WALKER2D = ObsLayout.of(
    ("position", ("rootz", "rooty", "thigh", "leg", "foot", "thigh_left", "leg_left", "foot_left")),
    ("velocity", 9),
)
ANT = ObsLayout.of(
    ("position", ("z", "qw", "qx", "qy", "qz", *[f"joint{i}" for i in range(8)])),
    ("velocity", 14),
    ("cfrc_ext", 78),
)
HUMANOID = ObsLayout.of(
    ("position", ("z", "qw", "qx", "qy", "qz", *[f"joint{i}" for i in range(17)])),
    ("velocity", 23),
    ("cinert", 130),
    ("cvel", 78),
    ("qfrc_actuator", 17),
    ("cfrc_ext", 78),
)


def _upright(o: Any) -> Any:
    """z component of the torso's up axis, from its quaternion: 1 upright, -1 upside down."""
    return 1.0 - 2.0 * (o["position.qx"] ** 2 + o["position.qy"] ** 2)


def _band(x: Any, bounds: tuple[float, float]) -> Any:
    """Distance from ``x`` to the nearer bound of ``bounds``: positive inside, negative outside."""
    low, high = bounds
    return 0.5 * (high - low) - abs(x - 0.5 * (low + high))


def half_cheetah_termination(next_obs: Any) -> Any:
    """HalfCheetah-v5 never terminates."""
    return zeros_like_batch(next_obs)


def hopper_termination(next_obs: Any) -> Any:
    """Hopper-v5 ``not is_healthy``, as far as the observation shows it (module docstring)."""
    o = HOPPER.view(next_obs)
    healthy = (
        all_within(next_obs[..., 1:], HOPPER_STATE)
        & (o["position.rootz"] > HOPPER_Z_MIN)
        & (o["position.rooty"] > -HOPPER_ANGLE)
        & (o["position.rooty"] < HOPPER_ANGLE)
    )
    return ~healthy


def walker2d_termination(next_obs: Any) -> Any:
    """Walker2d-v5 ``not is_healthy``: torso height and angle."""
    o = WALKER2D.view(next_obs)
    z, angle = o["position.rootz"], o["position.rooty"]
    healthy = (z > WALKER_Z[0]) & (z < WALKER_Z[1]) & (angle > -WALKER_ANGLE) & (angle < WALKER_ANGLE)
    return ~healthy


def ant_termination(next_obs: Any) -> Any:
    """Ant-v5 ``not is_healthy``: a finite state and torso height in the closed range."""
    o = ANT.view(next_obs)
    z = o["position.z"]
    finite = all_finite(next_obs[..., : ANT.slice("velocity").stop])
    return ~(finite & (z >= ANT_Z[0]) & (z <= ANT_Z[1]))


def humanoid_termination(next_obs: Any) -> Any:
    """Humanoid-v5 ``not is_healthy``: torso height in the open range."""
    z = HUMANOID.view(next_obs)["position.z"]
    return ~((z > HUMANOID_Z[0]) & (z < HUMANOID_Z[1]))


def _record(
    registry: Registry,
    env_id: str,
    layout: ObsLayout,
    action_dim: int,
    quantities: Mapping[str, Quantity],
    predicates: Mapping[str, Predicate],
    termination: Termination,
    description: str,
    margins: Mapping[str, Margin],
) -> None:
    registry.register(
        RobotRecord(
            name=env_id,
            factory=partial(GymMujocoEnv, env_id, layout),
            defaults=DEFAULTS,
            layout=layout,
            action_dim=action_dim,
            quantities=quantities,
            predicates=predicates,
            termination=termination,
            tags=frozenset({"locomotion", "gymnasium"}),
            description=description,
            margins=margins,
        )
    )


def register(registry: Registry) -> None:
    """Registers every Gymnasium MuJoCo record."""
    planar_q: dict[str, Quantity] = {
        "torso_z": lambda o: o["position.rootz"],
        "torso_pitch": lambda o: o["position.rooty"],
    }
    spatial_q: dict[str, Quantity] = {"torso_z": lambda o: o["position.z"], "torso_upright": _upright}
    _record(
        registry, "HalfCheetah-v5", HALF_CHEETAH, 6, planar_q,
        {"tipped": lambda q: abs(q["torso_pitch"]) > HALF_CHEETAH_TIPPED_PITCH},
        half_cheetah_termination, "Planar cheetah, run forward (never terminates).",
        {"tipped": lambda q: HALF_CHEETAH_TIPPED_PITCH - abs(q["torso_pitch"])},
    )  # fmt: skip
    _record(
        registry, "Hopper-v5", HOPPER, 3, planar_q,
        {
            "fell": lambda q: ~(q["torso_z"] > HOPPER_Z_MIN),
            "tipped": lambda q: ~((q["torso_pitch"] > -HOPPER_ANGLE) & (q["torso_pitch"] < HOPPER_ANGLE)),
        },
        hopper_termination, "Planar hopper; terminates when unhealthy.",
        {"fell": lambda q: q["torso_z"] - HOPPER_Z_MIN, "tipped": lambda q: HOPPER_ANGLE - abs(q["torso_pitch"])},
    )  # fmt: skip
    _record(
        registry, "Walker2d-v5", WALKER2D, 6, planar_q,
        {
            "fell": lambda q: ~((q["torso_z"] > WALKER_Z[0]) & (q["torso_z"] < WALKER_Z[1])),
            "tipped": lambda q: ~((q["torso_pitch"] > -WALKER_ANGLE) & (q["torso_pitch"] < WALKER_ANGLE)),
        },
        walker2d_termination, "Planar biped; terminates when unhealthy.",
        {"fell": lambda q: _band(q["torso_z"], WALKER_Z), "tipped": lambda q: WALKER_ANGLE - abs(q["torso_pitch"])},
    )  # fmt: skip
    _record(
        registry, "Ant-v5", ANT, 8, spatial_q,
        {
            "fell": lambda q: ~((q["torso_z"] >= ANT_Z[0]) & (q["torso_z"] <= ANT_Z[1])),
            "tipped": lambda q: q["torso_upright"] < 0.0,
        },
        ant_termination, "3-D quadruped; terminates when unhealthy.",
        {"fell": lambda q: _band(q["torso_z"], ANT_Z), "tipped": lambda q: q["torso_upright"]},
    )  # fmt: skip
    _record(
        registry, "Humanoid-v5", HUMANOID, 17, spatial_q,
        {
            "fell": lambda q: ~((q["torso_z"] > HUMANOID_Z[0]) & (q["torso_z"] < HUMANOID_Z[1])),
            "tipped": lambda q: q["torso_upright"] < 0.0,
        },
        humanoid_termination, "3-D humanoid; terminates when unhealthy.",
        {"fell": lambda q: _band(q["torso_z"], HUMANOID_Z), "tipped": lambda q: q["torso_upright"]},
    )  # fmt: skip
