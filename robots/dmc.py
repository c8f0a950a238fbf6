"""dm_control suite records: layouts, named physical quantities and failure predicates.

Constants are in one place per domain, read off the domain's XML and task code (dm_control
1.0.50). dm_control tasks never terminate: model rollouts must not either, so their
termination function is :func:`never_terminates`; falling is a *failure predicate*, scored but
not ending the episode.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import partial
from typing import Any

from robots.envs import DMCEnv
from robots.layout import ObsLayout
from robots.predicates import norm, zeros_like_batch
from robots.registry import Margin, Predicate, Quantity, Registry, RobotRecord

DEFAULTS: Mapping[str, Any] = {
    "max_episode_steps": 1000,
    "action_repeat": 1,
    "render_width": 128,
    "render_height": 128,
    "camera_id": 0,
}

# cheetah.xml: the torso body sits at z = 0.7 when the root slide joint reads 0.
CHEETAH_TORSO_Z0 = 0.7
# A pitch past a right angle means the cheetah is on its back or nose.
CHEETAH_TIPPED_PITCH = math.pi / 2
# walker.py stands at torso height 1.2; below 0.7 m the torso is at knee height: it fell.
WALKER_FALL_HEIGHT = 0.7
# hopper.xml: torso at z = 1.0 when rootz reads 0; hopper.py stands with torso-foot > 0.6.
HOPPER_TORSO_Z0 = 1.0
HOPPER_FALL_Z = 0.5
HOPPER_TIPPED_PITCH = 1.0
# humanoid.py stands with the head at 1.4 m; below 0.8 m the humanoid is down.
HUMANOID_FALL_HEAD = 0.8
# finger.py: the spinner tip more than 0.2 m from the target has lost it.
FINGER_FAR = 0.2
# reacher: hard targets have radius 0.009; 0.1 m away the arm is nowhere near it.
REACHER_FAR = 0.1
# manipulator.xml: the arm is rooted at (x, z) = (0, 0.4); its links reach 0.18 + 0.15 + 0.12 +
# 0.09 = 0.54 m. A ball more than 0.3 m from the hand is not held.
MANIPULATOR_SHOULDER = (0.0, 0.4)
MANIPULATOR_REACH = 0.54
MANIPULATOR_LOST = 0.3


def never_terminates(next_obs: Any) -> Any:
    """dm_control tasks end only by time limit: no row ever terminates."""
    return zeros_like_batch(next_obs)


def _record(
    registry: Registry,
    domain: str,
    task: str,
    layout: ObsLayout,
    action_dim: int,
    quantities: Mapping[str, Quantity],
    predicates: Mapping[str, Predicate],
    tags: set[str],
    description: str,
    margins: Mapping[str, Margin] | None = None,
) -> None:
    registry.register(
        RobotRecord(
            name=f"{domain}-{task}",
            factory=partial(DMCEnv, domain, task, layout),
            defaults=DEFAULTS,
            layout=layout,
            action_dim=action_dim,
            quantities=quantities,
            predicates=predicates,
            termination=never_terminates,
            tags=frozenset(tags | {"dm_control"}),
            description=description,
            margins=margins or {},
        )
    )


CARTPOLE = ObsLayout.of(("position", ("cart_x", "pole_cos", "pole_sin")), ("velocity", ("cart_v", "pole_w")))
PENDULUM = ObsLayout.of(("orientation", ("zz", "xz")), ("velocity", ("w",)))
CHEETAH = ObsLayout.of(
    ("position", ("rootz", "rooty", "bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot")),
    ("velocity", ("rootx", "rootz", "rooty", "bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot")),
)
_WALKER_BODIES = ("torso", "right_thigh", "right_leg", "right_foot", "left_thigh", "left_leg", "left_foot")
WALKER = ObsLayout.of(
    ("orientations", tuple(f"{b}_{c}" for b in _WALKER_BODIES for c in ("xx", "xz"))),
    ("height", ("torso_z",)),
    (
        "velocity",
        ("rootz", "rootx", "rooty", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle"),
    ),
)
HOPPER = ObsLayout.of(
    ("position", ("rootz", "rooty", "waist", "hip", "knee", "ankle")),
    ("velocity", ("rootx", "rootz", "rooty", "waist", "hip", "knee", "ankle")),
    ("touch", ("toe", "heel")),
)
QUADRUPED = ObsLayout.of(
    ("egocentric_state", 44),
    ("torso_velocity", ("x", "y", "z")),
    ("torso_upright", ("zz",)),
    ("imu", 6),
    ("force_torque", 24),
)
HUMANOID = ObsLayout.of(
    ("joint_angles", 21),
    ("head_height", ("z",)),
    ("extremities", 12),
    ("torso_vertical", ("x", "y", "z")),
    ("com_velocity", ("x", "y", "z")),
    ("velocity", 27),
)
FINGER = ObsLayout.of(
    ("position", ("proximal", "distal", "tip_x", "tip_z")),
    ("velocity", ("proximal", "distal", "hinge")),
    ("touch", ("top", "bottom")),
    ("target_position", ("x", "z")),
    ("dist_to_target", ("d",)),
)
REACHER = ObsLayout.of(
    ("position", ("shoulder", "wrist")), ("to_target", ("x", "y")), ("velocity", ("shoulder", "wrist"))
)
_POSE = ("x", "z", "qw", "qy")
MANIPULATOR = ObsLayout.of(
    ("arm_pos", 16),
    ("arm_vel", 8),
    ("touch", ("palm", "finger", "thumb", "fingertip", "thumbtip")),
    ("hand_pos", _POSE),
    ("object_pos", _POSE),
    ("object_vel", ("x", "z", "w")),
    ("target_pos", _POSE),
)


def _manipulator_hand_object(o: Any) -> Any:
    return norm(o["hand_pos"][..., :2] - o["object_pos"][..., :2])


def _manipulator_object_shoulder(o: Any) -> Any:
    xz = o["object_pos"][..., :2]
    return ((xz[..., 0] - MANIPULATOR_SHOULDER[0]) ** 2 + (xz[..., 1] - MANIPULATOR_SHOULDER[1]) ** 2) ** 0.5


def register(registry: Registry) -> None:
    """Registers every dm_control record."""
    _record(
        registry, "cartpole", "swingup", CARTPOLE, 1,
        {"cart_x": lambda o: o["position.cart_x"], "pole_upright": lambda o: o["position.pole_cos"]},
        {}, {"control"}, "Swing a pole up on a cart and balance it.",
    )  # fmt: skip
    _record(
        registry, "pendulum", "swingup", PENDULUM, 1,
        {"pole_upright": lambda o: o["orientation.zz"]},
        {}, {"control"}, "Swing a torque-limited pendulum up.",
    )  # fmt: skip
    cheetah_q: dict[str, Quantity] = {
        "torso_z": lambda o: CHEETAH_TORSO_Z0 + o["position.rootz"],
        "torso_pitch": lambda o: o["position.rooty"],
        "forward_velocity": lambda o: o["velocity.rootx"],
    }
    _record(
        registry, "cheetah", "run", CHEETAH, 6, cheetah_q,
        {"tipped": lambda q: abs(q["torso_pitch"]) > CHEETAH_TIPPED_PITCH},
        {"locomotion"}, "Planar cheetah, run forward.",
        {"tipped": lambda q: CHEETAH_TIPPED_PITCH - abs(q["torso_pitch"])},
    )  # fmt: skip
    walker_q: dict[str, Quantity] = {
        "torso_height": lambda o: o["height.torso_z"],
        "torso_upright": lambda o: o["orientations.torso_xx"],
    }
    walker_p: dict[str, Predicate] = {
        "fell": lambda q: q["torso_height"] < WALKER_FALL_HEIGHT,
        "tipped": lambda q: q["torso_upright"] < 0.0,
    }
    walker_m: dict[str, Margin] = {
        "fell": lambda q: q["torso_height"] - WALKER_FALL_HEIGHT,
        "tipped": lambda q: q["torso_upright"],
    }
    for task in ("walk", "run"):
        _record(registry, "walker", task, WALKER, 6, walker_q, walker_p, {"locomotion"}, f"Planar biped, {task}.",
                walker_m)  # fmt: skip
    hopper_q: dict[str, Quantity] = {
        "torso_z": lambda o: HOPPER_TORSO_Z0 + o["position.rootz"],
        "torso_pitch": lambda o: o["position.rooty"],
    }
    hopper_p: dict[str, Predicate] = {
        "fell": lambda q: q["torso_z"] < HOPPER_FALL_Z,
        "tipped": lambda q: abs(q["torso_pitch"]) > HOPPER_TIPPED_PITCH,
    }
    for task in ("stand", "hop"):
        _record(
            registry,
            "hopper",
            task,
            HOPPER,
            4,
            hopper_q,
            hopper_p,
            {"locomotion"},
            f"Planar one-legged hopper, {task}.",
            {
                "fell": lambda q: q["torso_z"] - HOPPER_FALL_Z,
                "tipped": lambda q: HOPPER_TIPPED_PITCH - abs(q["torso_pitch"]),
            },
        )
    quadruped_q: dict[str, Quantity] = {"torso_upright": lambda o: o["torso_upright.zz"]}
    quadruped_p: dict[str, Predicate] = {"tipped": lambda q: q["torso_upright"] < 0.0}
    for task in ("walk", "run"):
        _record(
            registry,
            "quadruped",
            task,
            QUADRUPED,
            12,
            quadruped_q,
            quadruped_p,
            {"locomotion"},
            f"3-D quadruped, {task}.",
            {"tipped": lambda q: q["torso_upright"]},
        )
    humanoid_q: dict[str, Quantity] = {
        "head_height": lambda o: o["head_height.z"],
        "torso_upright": lambda o: o["torso_vertical.z"],
    }
    humanoid_p: dict[str, Predicate] = {
        "fell": lambda q: q["head_height"] < HUMANOID_FALL_HEAD,
        "tipped": lambda q: q["torso_upright"] < 0.0,
    }
    for task in ("stand", "walk", "run"):
        _record(
            registry,
            "humanoid",
            task,
            HUMANOID,
            21,
            humanoid_q,
            humanoid_p,
            {"locomotion"},
            f"3-D humanoid, {task}.",
            {"fell": lambda q: q["head_height"] - HUMANOID_FALL_HEAD, "tipped": lambda q: q["torso_upright"]},
        )
    _record(
        registry, "finger", "turn_hard", FINGER, 2,
        {"tip_to_target": lambda o: o["dist_to_target.d"], "touch": lambda o: o["touch.top"] + o["touch.bottom"]},
        {"out_of_reach": lambda q: q["tip_to_target"] > FINGER_FAR},
        {"manipulation"}, "Two-link finger turns a spinner to a small target.",
        {"out_of_reach": lambda q: FINGER_FAR - q["tip_to_target"]},
    )  # fmt: skip
    _record(
        registry, "reacher", "hard", REACHER, 2,
        {"to_target": lambda o: norm(o["to_target"])},
        {"out_of_reach": lambda q: q["to_target"] > REACHER_FAR},
        {"manipulation"}, "Two-link arm reaches a small target.",
        {"out_of_reach": lambda q: REACHER_FAR - q["to_target"]},
    )  # fmt: skip
    _record(
        registry, "manipulator", "bring_ball", MANIPULATOR, 5,
        {"hand_to_object": _manipulator_hand_object, "object_to_shoulder": _manipulator_object_shoulder},
        {
            "object_lost": lambda q: q["hand_to_object"] > MANIPULATOR_LOST,
            "out_of_reach": lambda q: q["object_to_shoulder"] > MANIPULATOR_REACH,
        },
        {"manipulation"}, "Planar arm with a gripper brings a ball to a target.",
        {
            "object_lost": lambda q: MANIPULATOR_LOST - q["hand_to_object"],
            "out_of_reach": lambda q: MANIPULATOR_REACH - q["object_to_shoulder"],
        },
    )  # fmt: skip
