"""The perturbation context: a scenario's drawn parameters as a fixed-length vector per robot.

The world model takes this vector as an extra input (issue 5, deliverable 3), so one model can
predict the plant under a scenario's physical parameters as well as nominally. Every slot is a
*deviation from nominal*, so the nominal plant is exactly the zero vector:

=============================  ===========================================  ========
slot                           value                                        nominal
=============================  ===========================================  ========
``friction_scale``             product of the drawn friction scales − 1     0
``mass_scale.<body>``          product of the body's mass scales − 1        0
``payload.<body>``             sum of the payload masses on it (kg)         0
``actuator_scale.<actuator>``  product of its gear scales − 1; dead: −1     0
``damping_scale.<joint>``      product of its damping scales − 1            0
``action_latency``             latency in control steps                     0
``action_noise``               action noise std                             0
=============================  ===========================================  ========

Bodies (the world body excluded), actuators and joints are the robot's own, in MuJoCo's order,
so the layout is a function of the robot alone: every part of synthgate that builds a context
for a robot builds the same one. Scales multiply and payloads add because that is how the
engine applies them: each model edit starts from the current model, so two draws compound
(``robots.perturbations``); ``damping_scale`` with ``joint: all`` scales every joint's slot; a
dead actuator is a gear scale of 0.

Not context: ``push`` (an event on the state: the targeted generator applies it as a velocity
impulse, :func:`push_velocity_change`) and the sensing families ``obs_noise``, ``obs_bias``,
``obs_dropout`` (they corrupt what is observed, not the dynamics).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import mujoco
import numpy as np

from robots.layout import ObsLayout
from robots.perturbations import FAMILIES, FAMILY_TABLE, actuator_names, body_names, object_id, root_velocity_change

CONTEXT_FAMILIES = tuple(n for n, f in FAMILY_TABLE.items() if f.context)
"""Families with context slots, in slot order (``robots.perturbations.FAMILY_TABLE``'s)."""
EVENT_FAMILIES = tuple(n for n, f in FAMILY_TABLE.items() if f.acts_on == "state")
"""Families applied to the state by the targeted generator, not through the context."""
SENSING_FAMILIES = tuple(n for n, f in FAMILY_TABLE.items() if f.acts_on == "sensing")
"""Families that corrupt observations; neither context nor state impulse."""


def joint_names(model: mujoco.MjModel) -> list[str]:
    """The model's joint names, in order."""
    return [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, i) for i in range(model.njnt)]


@dataclass(frozen=True)
class ContextLayout:
    """The named slots of a robot's context vector, in order."""

    names: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(set(self.names)) != len(self.names):
            raise ValueError("context slot names must be unique")
        object.__setattr__(self, "_index", {n: i for i, n in enumerate(self.names)})

    @property
    def size(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """The position of slot ``name``.

        Raises:
            KeyError: no such slot; the message lists the valid ones.
        """
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"{name!r} is not a context slot; valid: {list(self.names)}") from None

    def describe(self, vector: np.ndarray) -> dict[str, float]:
        """The non-zero slots of a context vector, by name (for logs and provenance)."""
        return {n: float(v) for n, v in zip(self.names, vector, strict=True) if v != 0.0}


def context_layout(model: mujoco.MjModel) -> ContextLayout:
    """The context layout of a robot, read off its MuJoCo model (see the module docstring)."""
    bodies = body_names(model)[1:]
    names = ["friction_scale"]
    names += [f"mass_scale.{b}" for b in bodies]
    names += [f"payload.{b}" for b in bodies]
    names += [f"actuator_scale.{a}" for a in actuator_names(model)]
    names += [f"damping_scale.{j}" for j in joint_names(model)]
    names += ["action_latency", "action_noise"]
    return ContextLayout(tuple(names))


def encode(active: Sequence[Mapping[str, Any]], layout: ContextLayout) -> np.ndarray:
    """The context vector of the perturbations applied so far in an episode.

    Args:
        active: the applied perturbations, as :class:`robots.perturbations.PerturbedEnv` reports
            them (``info["perturbations"]`` after reset, ``env.active`` during the episode): one
            mapping per firing, with ``family`` and the drawn values.
        layout: the robot's :func:`context_layout`.

    Returns:
        float32 ``[layout.size]``; all zeros when ``active`` is empty or holds only event and
        sensing families.

    Raises:
        ValueError: an unknown family, or a body, actuator or joint the layout does not have.
    """
    scale: dict[str, float] = {}
    value: dict[str, float] = {}

    def multiply(slot: str, factor: float) -> None:
        layout.index(slot)
        scale[slot] = scale.get(slot, 1.0) * factor

    for entry in active:
        family = entry["family"]
        if family == "friction_scale":
            multiply("friction_scale", float(entry["scale"]))
        elif family == "mass_scale":
            multiply(f"mass_scale.{entry['body']}", float(entry["scale"]))
        elif family == "payload":
            slot = f"payload.{entry['body']}"
            layout.index(slot)
            value[slot] = value.get(slot, 0.0) + float(entry["mass"])
        elif family == "actuator_scale":
            multiply(f"actuator_scale.{entry['actuator']}", float(entry["scale"]))
        elif family == "dead_actuator":
            multiply(f"actuator_scale.{entry['actuator']}", 0.0)
        elif family == "damping_scale":
            joint = str(entry.get("joint", "all"))
            slots = [n for n in layout.names if n.startswith("damping_scale.")] if joint == "all" else [
                f"damping_scale.{joint}"]  # fmt: skip
            for slot in slots:
                multiply(slot, float(entry["scale"]))
        elif family == "action_latency":
            value["action_latency"] = float(entry.get("steps", 1))
        elif family == "action_noise":
            value["action_noise"] = float(entry["std"])
        elif family not in FAMILIES:
            raise ValueError(f"unknown perturbation family {family!r}; valid: {', '.join(FAMILIES)}")
    out = np.zeros(layout.size, dtype=np.float32)
    for slot, factor in scale.items():
        out[layout.index(slot)] = factor - 1.0
    for slot, v in value.items():
        out[layout.index(slot)] = v
    return out


def push_velocity_change(
    model: mujoco.MjModel, layout: ObsLayout, control_timestep: float, params: Mapping[str, Any], duration: int
) -> dict[str, float]:
    """A push as an instantaneous change of the observed velocity columns of the pushed body's root.

    ``mode: velocity`` adds ``force * direction`` (m/s) to the root's slide joints, as the engine
    does on the plant. ``mode: force`` (a force of ``force`` N along ``direction`` for
    ``duration`` control steps) becomes the impulse it delivers to the whole articulated body:
    ``Δv = force * duration * control_timestep / total mass`` along ``direction``, the change of
    the centre-of-mass velocity (contacts during the push and the torque about the centre of mass
    are neglected). Each root slide joint gets the component of ``Δv`` along its axis.

    Args:
        model: the robot's MuJoCo model.
        layout: the robot's observation layout; a root slide joint's velocity must be the named
            element ``velocity.<joint name>``.
        control_timestep: seconds per control step.
        params: the drawn push parameters (``body``, ``force``, ``direction``, ``mode``).
        duration: the push's trigger duration in control steps.

    Returns:
        ``{observation key: velocity change}``, e.g. ``{"velocity.rootx": 1.2}``.

    Raises:
        ValueError: an unknown body, or a root whose slide joints have no named velocity column.
    """
    body = object_id(model, mujoco.mjtObj.mjOBJ_BODY, str(params["body"]), "body")
    direction = np.asarray(params.get("direction", (1.0, 0.0, 0.0)), dtype=np.float64)
    direction = direction / max(float(np.linalg.norm(direction)), 1e-12)
    magnitude = float(params["force"])
    if params.get("mode", "force") == "force":
        total_mass = float(model.body_mass.sum())
        magnitude = magnitude * duration * control_timestep / total_mass
    keys = set(layout.keys())
    out: dict[str, float] = {}
    names = joint_names(model)
    dof_joint = {int(model.jnt_dofadr[j]): j for j in range(model.njnt)}
    # The plant's own mapping (robots.perturbations.PerturbedEnv applies exactly these changes).
    for dof, change in root_velocity_change(model, body, magnitude * direction):
        j = dof_joint.get(dof)
        slide = j is not None and model.jnt_type[j] == mujoco.mjtJoint.mjJNT_SLIDE
        key = f"velocity.{names[j]}" if j is not None and slide else ""
        if key not in keys:
            what = f"root slide joint {names[j]!r}" if j is not None and slide else "root free joint (no slide joints)"
            raise ValueError(
                f"push on {params['body']!r}: the {what} has no named observation column "
                f"{key or 'for its linear velocity'}; the layout names: "
                f"{sorted(k for k in keys if k.startswith('velocity.'))}"
            )
        out[key] = change
    if not out:
        raise ValueError(f"push on {params['body']!r}: its root body has no slide joints to give a velocity change")
    return out
