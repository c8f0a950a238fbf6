"""The perturbation engine: named perturbations of a plant, fired at named hook points.

Every perturbation is a pure function of ``(model, parameters, rng)``: it reads the MuJoCo model
(names, nominal values) and returns the *edits* it wants, never mutating anything itself. The
engine (:class:`PerturbedEnv`) applies the edits and, on every reset, first restores every model
array from a pristine copy taken at construction, so the nominal model comes back exactly.

Hook points (dm_control's composer names them the same way): ``on_reset``, ``at_step`` (step t of
the episode, for ``duration`` steps) and ``every_n_steps``. Each parameter is drawn from the
distribution written next to it (:class:`Uniform`, :class:`Choice` or a fixed number).

Families:

* model: ``friction_scale`` (floor and contacts), ``mass_scale`` and ``payload`` on a named body,
  ``actuator_scale`` (weak actuator) and ``dead_actuator``, ``damping_scale`` and ``armature_scale``
  on joints;
* state: ``push`` (a force on a named body for ``duration`` steps, or a velocity impulse);
* sensing: ``obs_noise``, ``obs_bias``, ``obs_dropout`` (zeros or hold-last for ``duration`` steps),
  on named observation fields;
* actuation: ``action_latency`` (k steps) and ``action_noise``.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, SupportsFloat

import gymnasium as gym
import mujoco
import numpy as np

HOOKS = ("on_reset", "at_step", "every_n_steps")


@dataclass(frozen=True)
class Uniform:
    """A parameter drawn uniformly from [low, high]."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError(f"Uniform range min {self.low} > max {self.high}")

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))


@dataclass(frozen=True)
class Choice:
    """A parameter drawn uniformly from a list of options."""

    options: tuple[Any, ...]

    def sample(self, rng: np.random.Generator) -> Any:
        return self.options[int(rng.integers(len(self.options)))]


Param = float | int | str | Uniform | Choice


def draw(value: Param, rng: np.random.Generator) -> Any:
    """A concrete value for a parameter (fixed values are returned as they are)."""
    return value.sample(rng) if isinstance(value, Uniform | Choice) else value


@dataclass(frozen=True)
class Trigger:
    """When a perturbation fires: ``on_reset``; ``at_step`` (``step``); or every ``every`` steps.
    Effects on the state or the sensors last ``duration`` steps from firing."""

    hook: str = "on_reset"
    step: int = 0
    every: int = 0
    duration: int = 1

    def __post_init__(self) -> None:
        if self.hook not in HOOKS:
            raise ValueError(f"trigger hook {self.hook!r}: valid: {', '.join(HOOKS)}")
        if self.hook == "every_n_steps" and self.every < 1:
            raise ValueError("trigger every_n_steps needs every >= 1")
        if self.duration < 1:
            raise ValueError(f"trigger duration {self.duration}: must be >= 1")

    def fires(self, t: int) -> bool:
        """Whether it fires before control step ``t`` (0 = the first step after reset)."""
        if self.hook == "at_step":
            return t == self.step
        if self.hook == "every_n_steps":
            return t > 0 and t % self.every == 0
        return False


def root_velocity_change(model: mujoco.MjModel, body: int, velocity: np.ndarray) -> list[tuple[int, float]]:
    """A linear velocity change (world frame, m/s) of ``body``'s root, as changes of its degrees of freedom.

    Each slide joint of the root gets the component of ``velocity`` along its axis; a free joint
    gets all three (its first three degrees of freedom are the linear velocity); hinge and ball
    joints get nothing (a push here changes linear velocity only). Mapping by axis, not by joint
    order, matters: walker's root joints are ``rootz, rootx, rooty``, so an x push added to the
    first degree of freedom would land on z.

    Returns:
        ``[(dof address, change)]``, one entry per degree of freedom that changes.
    """
    root = int(model.body_rootid[body])
    out: list[tuple[int, float]] = []
    for j in range(model.njnt):
        if int(model.jnt_bodyid[j]) != root:
            continue
        dof = int(model.jnt_dofadr[j])
        if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_SLIDE:
            out.append((dof, float(np.dot(velocity, model.jnt_axis[j]))))
        elif model.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE:
            out += [(dof + k, float(velocity[k])) for k in range(3)]
    return out


Edit = tuple[str, Any, np.ndarray]
"""``(model field, index, new value)`` applied as ``model.<field>[index] = value``."""


def object_id(model: mujoco.MjModel, kind: mujoco.mjtObj, name: str, what: str) -> int:
    """The index of the MuJoCo object ``name`` of ``kind``; an unknown name lists the valid ones."""
    if kind == mujoco.mjtObj.mjOBJ_ACTUATOR:
        names = actuator_names(model)
        if name in names:
            return names.index(name)
        raise ValueError(f"no actuator {name!r} in this robot; valid: {', '.join(names)}")
    i = mujoco.mj_name2id(model, kind, name)
    if i < 0:
        count = {mujoco.mjtObj.mjOBJ_BODY: model.nbody, mujoco.mjtObj.mjOBJ_ACTUATOR: model.nu,
                 mujoco.mjtObj.mjOBJ_JOINT: model.njnt}[kind]  # fmt: skip
        valid = [mujoco.mj_id2name(model, kind, j) for j in range(count)]
        raise ValueError(f"no {what} {name!r} in this robot; valid: {', '.join(n for n in valid if n)}")
    return int(i)


def body_names(model: mujoco.MjModel) -> list[str]:
    return [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, i) for i in range(model.nbody)]


def actuator_names(model: mujoco.MjModel) -> list[str]:
    """Actuator names; an unnamed actuator (Gymnasium's XML) is named after the joint it drives."""
    out = []
    for i in range(model.nu):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_ACTUATOR, i)
        if not name:
            name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, int(model.actuator_trnid[i, 0]))
        out.append(name)
    return out


# --- model perturbations: pure functions (model, params, rng) -> edits --------------------------


def friction_scale(model: mujoco.MjModel, params: Mapping[str, Param], rng: np.random.Generator) -> list[Edit]:
    """Scales the sliding friction of every geom (floor and contacts). ``scale``: e.g. Uniform(0.1, 0.3)."""
    scale = draw(params["scale"], rng)
    return [("geom_friction", (slice(None), 0), model.geom_friction[:, 0] * scale)]


def mass_scale(model: mujoco.MjModel, params: Mapping[str, Param], rng: np.random.Generator) -> list[Edit]:
    """Scales a named body's mass and inertia. ``body``; ``scale``: e.g. Uniform(0.8, 1.5)."""
    b = object_id(model, mujoco.mjtObj.mjOBJ_BODY, str(params["body"]), "body")
    scale = draw(params["scale"], rng)
    return [("body_mass", b, model.body_mass[b] * scale), ("body_inertia", b, model.body_inertia[b] * scale)]


def payload(model: mujoco.MjModel, params: Mapping[str, Param], rng: np.random.Generator) -> list[Edit]:
    """Adds a point payload of ``mass`` kg (e.g. Uniform(1, 5)) at a named body's centre of mass."""
    b = object_id(model, mujoco.mjtObj.mjOBJ_BODY, str(params["body"]), "body")
    mass = draw(params["mass"], rng)
    return [("body_mass", b, model.body_mass[b] + mass)]


def actuator_scale(model: mujoco.MjModel, params: Mapping[str, Param], rng: np.random.Generator) -> list[Edit]:
    """Weakens (or strengthens) a named actuator's gear by ``scale`` (e.g. Uniform(0.2, 0.5))."""
    a = object_id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, str(params["actuator"]), "actuator")
    scale = draw(params["scale"], rng)
    return [("actuator_gear", (a, 0), model.actuator_gear[a, 0] * scale)]


def dead_actuator(model: mujoco.MjModel, params: Mapping[str, Param], rng: np.random.Generator) -> list[Edit]:
    """A named actuator (or one drawn with Choice) produces no force."""
    a = object_id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, str(draw(params["actuator"], rng)), "actuator")
    return [("actuator_gear", (a, 0), np.zeros(()))]


def _dof_scale(model: mujoco.MjModel, field: str, params: Mapping[str, Param], rng: np.random.Generator) -> list[Edit]:
    """Scales ``model.<field>`` (a per-dof array) on every dof of a named joint, or on all (``all``)."""
    scale = draw(params["scale"], rng)
    joint = str(params.get("joint", "all"))
    values = getattr(model, field)
    if joint == "all":
        return [(field, slice(None), values * scale)]
    dof = model.jnt_dofadr[object_id(model, mujoco.mjtObj.mjOBJ_JOINT, joint, "joint")]
    return [(field, dof, values[dof] * scale)]


def damping_scale(model: mujoco.MjModel, params: Mapping[str, Param], rng: np.random.Generator) -> list[Edit]:
    """Scales the damping of every dof of a named joint, or of all joints when ``joint`` is ``all``."""
    return _dof_scale(model, "dof_damping", params, rng)


def armature_scale(model: mujoco.MjModel, params: Mapping[str, Param], rng: np.random.Generator) -> list[Edit]:
    """Scales the armature (rotor inertia) of every dof of a named joint, or of all joints (``all``)."""
    return _dof_scale(model, "dof_armature", params, rng)


ModelEdit = Callable[[mujoco.MjModel, Mapping[str, Param], np.random.Generator], list[Edit]]


@dataclass(frozen=True)
class Family:
    """What a perturbation family is: its parameters, how it acts on the plant, and how a world
    model is told about it."""

    params: tuple[str, ...]
    """Its parameters (the scenario loader validates against them)."""
    acts_on: str
    """``model`` (MuJoCo model arrays, :attr:`edit`), ``state`` (a push), ``sensing`` (observations)
    or ``actuation`` (actions)."""
    context: bool
    """It has slots in the perturbation context (``robots.context``) that conditions a world model."""
    edit: ModelEdit | None = None
    """The model edit of a ``model`` family."""
    modes: tuple[str, ...] = ()
    """Valid values of its ``mode`` parameter, if it has one."""
    scenario: bool = True
    """Scenarios may use it. A model family a world model is not told about (no context slot) is for
    gap profiles only (``robots.gaps``): a scenario's physics must be visible to the context."""


FAMILY_TABLE: dict[str, Family] = {
    "friction_scale": Family(("scale",), "model", True, friction_scale),
    "mass_scale": Family(("body", "scale"), "model", True, mass_scale),
    "payload": Family(("body", "mass"), "model", True, payload),
    "actuator_scale": Family(("actuator", "scale"), "model", True, actuator_scale),
    "dead_actuator": Family(("actuator",), "model", True, dead_actuator),
    "damping_scale": Family(("scale", "joint"), "model", True, damping_scale),
    "armature_scale": Family(("scale", "joint"), "model", False, armature_scale, scenario=False),
    "push": Family(("body", "force", "direction", "mode"), "state", False, modes=("force", "velocity")),
    "obs_noise": Family(("std", "fields"), "sensing", False),
    "obs_bias": Family(("bias", "fields"), "sensing", False),
    "obs_dropout": Family(("mode", "fields"), "sensing", False, modes=("zeros", "hold")),
    "action_latency": Family(("steps",), "actuation", True),
    "action_noise": Family(("std",), "actuation", True),
}
"""Every perturbation family, the one place they are listed; the tuples below are derived from it."""
FAMILIES = tuple(FAMILY_TABLE)
SCENARIO_FAMILIES = tuple(n for n, f in FAMILY_TABLE.items() if f.scenario)
"""Families a scenario may use; the rest are gap profiles' only."""
MODEL_FAMILIES: dict[str, ModelEdit] = {n: f.edit for n, f in FAMILY_TABLE.items() if f.edit is not None}
OTHER_FAMILIES = tuple(n for n, f in FAMILY_TABLE.items() if f.edit is None)
PARAMS: dict[str, tuple[str, ...]] = {n: f.params for n, f in FAMILY_TABLE.items()}
"""Every family's parameters (the scenario loader validates against this)."""

LOWER_BOUNDS: dict[tuple[str, str], tuple[float, bool, str]] = {
    ("friction_scale", "scale"): (0.0, True, "a friction scale must be > 0"),
    ("mass_scale", "scale"): (0.0, True, "a mass scale must be > 0"),
    ("payload", "mass"): (0.0, False, "a payload mass in kg must be >= 0"),
    ("actuator_scale", "scale"): (0.0, False, "a gear scale must be >= 0 (0: a dead actuator)"),
    ("damping_scale", "scale"): (0.0, False, "a damping scale must be >= 0"),
    ("armature_scale", "scale"): (0.0, False, "an armature scale must be >= 0"),
    ("push", "force"): (0.0, False, "a push magnitude must be >= 0 (direction gives its sign)"),
    ("obs_noise", "std"): (0.0, False, "a noise std must be >= 0"),
    ("action_noise", "std"): (0.0, False, "a noise std must be >= 0"),
    ("action_latency", "steps"): (1.0, False, "a latency in control steps must be >= 1"),
}
"""Physical lower bounds of numeric parameters, ``(bound, strict, why)``: a value outside is not a
plant (a negative mass ends training in NaN), so the scenario loader refuses it (issue 21, item 5)."""


@dataclass(frozen=True)
class Perturbation:
    """One perturbation: a family, its parameters (fixed or distributions) and its trigger."""

    family: str
    params: Mapping[str, Param] = field(default_factory=dict)
    trigger: Trigger = field(default_factory=Trigger)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"perturbation family {self.family!r}: valid: {', '.join(FAMILIES)}")
        unknown = set(self.params) - set(PARAMS[self.family])
        if unknown:
            raise ValueError(f"{self.family}: unknown parameters {sorted(unknown)}; valid: {list(PARAMS[self.family])}")


class PerturbedEnv(gym.Wrapper[np.ndarray, np.ndarray, np.ndarray, np.ndarray]):
    """Applies perturbations to a synthgate plant at their hook points; reset restores the nominal model.

    The random stream is seeded by ``reset(seed=...)`` (or the constructor's ``seed``), so the same
    seed draws the same perturbations. ``active`` reports the parameters drawn this episode.
    """

    def __init__(
        self, env: gym.Env[np.ndarray, np.ndarray], perturbations: list[Perturbation], seed: int | None = None
    ):
        super().__init__(env)
        base: Any = env.unwrapped
        self._model: mujoco.MjModel = base.mj_model
        self._data: mujoco.MjData = base.mj_data
        self.layout = base.layout
        self.pristine = copy.deepcopy(self._model)
        self.perturbations = perturbations
        self.rng = np.random.default_rng(seed)
        self.t = 0
        self.active: list[dict[str, Any]] = []
        self._pushes: list[tuple[int, np.ndarray, int]] = []
        self._sensing: list[tuple[Perturbation, dict[str, Any], int]] = []
        self._queue: deque[np.ndarray] = deque()
        self._latency = 0
        self._noise_std: float | None = None
        self._last_obs: np.ndarray | None = None
        for p in perturbations:  # name errors surface at construction, not mid-episode
            if p.family in MODEL_FAMILIES:
                MODEL_FAMILIES[p.family](self._model, p.params, np.random.default_rng(0))
            if p.family == "push":
                object_id(self._model, mujoco.mjtObj.mjOBJ_BODY, str(p.params["body"]), "body")
            for f in p.params.get("fields", ()) if p.family.startswith("obs_") else ():  # type: ignore[union-attr]
                self.layout.slice(str(f))

    def restore_nominal(self) -> None:
        """Copies every array of the pristine model back (exact)."""
        for name in dir(self.pristine):
            value = getattr(self.pristine, name)
            if isinstance(value, np.ndarray) and not name.startswith("_"):
                target = getattr(self._model, name)
                if target.flags.writeable:
                    target[...] = value

    def _fire(self, p: Perturbation) -> None:
        # Parameters are drawn once, here: what is applied is exactly what `active` reports.
        drawn: dict[str, Any] = {k: draw(v, self.rng) if k != "fields" else v for k, v in p.params.items()}
        if p.family in MODEL_FAMILIES:
            for name, index, value in MODEL_FAMILIES[p.family](self._model, drawn, self.rng):
                getattr(self._model, name)[index] = value
        elif p.family == "action_latency":
            self._latency = int(drawn.get("steps", 1))
            shape = self.action_space.shape or (0,)
            self._queue = deque(np.zeros(shape, dtype=np.float32) for _ in range(self._latency))
        elif p.family == "push":
            body = object_id(self._model, mujoco.mjtObj.mjOBJ_BODY, str(drawn["body"]), "body")
            direction = np.asarray(drawn.get("direction", (1.0, 0.0, 0.0)), dtype=np.float64)
            direction = direction / max(float(np.linalg.norm(direction)), 1e-12)
            if drawn.get("mode", "force") == "velocity":  # an instantaneous change of the body's root velocity
                for dof, change in root_velocity_change(self._model, body, float(drawn["force"]) * direction):
                    self._data.qvel[dof] += change
            else:
                self._pushes.append((body, float(drawn["force"]) * direction, p.trigger.duration))
        elif p.family == "action_noise":  # its std is drawn here, once per firing, not at every step
            self._noise_std = float(drawn["std"])
        elif p.family.startswith("obs_"):
            self._sensing.append((p, drawn, p.trigger.duration if p.trigger.hook != "on_reset" else 10**12))
        self.active.append({"family": p.family, "t": self.t, **{k: v for k, v in drawn.items() if k != "fields"}})

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.restore_nominal()
        self.t, self.active, self._pushes, self._sensing = 0, [], [], []
        self._latency, self._queue, self._noise_std = 0, deque(), None
        for p in self.perturbations:
            if p.trigger.hook == "on_reset":
                self._fire(p)
        obs, info = self.env.reset(seed=seed, options=options)
        self._last_obs = obs
        return self._sense(obs), {**info, "perturbations": list(self.active)}

    def _sense(self, obs: np.ndarray) -> np.ndarray:
        out = obs.copy()
        kept = []
        for p, drawn, left in self._sensing:
            cols = np.concatenate([np.arange(self.layout.slice(str(f)).start, self.layout.slice(str(f)).stop)
                                   for f in p.params.get("fields", ())])  # type: ignore[union-attr]  # fmt: skip
            if p.family == "obs_noise":
                out[cols] += self.rng.normal(0.0, float(drawn["std"]), len(cols)).astype(np.float32)
            elif p.family == "obs_bias":
                out[cols] += np.float32(drawn["bias"])
            elif p.family == "obs_dropout":
                hold = drawn.get("mode", "zeros") == "hold" and self._last_obs is not None
                out[cols] = self._last_obs[cols] if hold else 0.0  # type: ignore[index]
            if left > 1:
                kept.append((p, drawn, left - 1))
        self._sensing = kept
        if not any(p.family == "obs_dropout" for p, _, _ in kept):
            self._last_obs = out
        return out

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        for p in self.perturbations:
            if p.trigger.fires(self.t):
                self._fire(p)
        act = np.asarray(action, dtype=np.float32)
        if self._noise_std is not None:
            act = np.clip(act + self.rng.normal(0.0, self._noise_std, act.shape), -1, 1)
        if self._latency:
            self._queue.append(act)
            act = self._queue.popleft()
        self._data.xfrc_applied[:] = 0.0
        kept = []
        for body, force, left in self._pushes:
            self._data.xfrc_applied[body, :3] += force
            if left > 1:
                kept.append((body, force, left - 1))
        self._pushes = kept
        obs, reward, terminated, truncated, info = self.env.step(act.astype(np.float32))
        self._data.xfrc_applied[:] = 0.0
        self.t += 1
        return self._sense(obs), reward, terminated, truncated, info
