"""Reality gaps as data: how the real plant differs from the sim.

The **sim** is a registry robot, nominal. The **real plant** is the same robot with a *gap
profile* applied (docs/sim_to_real.md). A profile is validated YAML, kept the way scenarios are:
the library in ``robots/conf/gap/<robot>/<name>.yaml``, the user's own files by path, and
directories named by ``$SYNTHGATE_GAP_PATH`` laid out the same way. ``none`` is every robot's
empty profile: the sim itself, today's behaviour.

A profile says two kinds of things:

``parametric``
    perturbation families of ``robots.perturbations`` with **fixed** values (a real plant is one
    plant): the model families (``mass_scale``, ``payload``, ``friction_scale``,
    ``actuator_scale``, ``damping_scale``, ``armature_scale``...) are applied to the MuJoCo model
    once, when the plant is built, so a scenario's perturbations and every reset start from the
    real plant's model; the sensing and actuation families (``obs_noise``, ``obs_bias``,
    ``action_noise``) act at every control step.
``unmodeled``
    effects no simulator parameter expresses (:data:`GAP_TERMS`), applied at **every physics
    step** of the plant through its substep hook (``robots.envs.GymMujocoEnv.set_substep_hook``):

    * ``torque_speed``: a DC motor's torque-speed limit. The torque an actuator can deliver in the
      direction it is moving falls linearly from ``stall`` (a fraction of its full command) at
      rest to 0 at ``no_load_speed`` (rad/s); against the motion it is capped at ``stall``
      (IsaacLab's ``DCMotor`` curve);
    * ``deadband``: commands whose magnitude is below ``width`` (a fraction of the actuator's
      range) produce nothing, and larger ones lose ``width``: ``sign(u) max(|u| - w, 0)``;
    * ``joint_friction``: a position-dependent Coulomb friction on a joint,
      ``-(coulomb + slope |q - rest|) tanh(qdot / 0.1)`` N·m, as a worn bearing or a cable would give.

Only the Gymnasium robots have the substep hook; a profile with unmodeled terms for a dm_control
robot is refused when it is loaded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
import mujoco
import numpy as np

from robots import get as get_robot
from robots import names as robot_names
from robots import spec
from robots.perturbations import FAMILY_TABLE, MODEL_FAMILIES, Choice, Perturbation, Uniform, object_id

LIBRARY = Path(__file__).parent / "conf" / "gap"
PATH_ENV = "SYNTHGATE_GAP_PATH"
"""Directories of the user's own gap profiles (``<dir>/<robot>/<name>.yaml``, separated by ``os.pathsep``)."""
NONE = "none"
KEYS = ("name", "robot", "description", "parametric", "unmodeled")
ENTRY_KEYS = ("family", "params")
TERM_KEYS = ("term", "params")
PER_STEP_FAMILIES = ("obs_noise", "obs_bias", "action_noise")
"""Parametric families that act at every control step rather than on the model."""
GAP_FAMILIES = (*MODEL_FAMILIES, *PER_STEP_FAMILIES)
"""Families a gap profile's ``parametric`` list may use."""

Substep = Callable[[mujoco.MjModel, mujoco.MjData, np.ndarray], None]
"""Called before every physics step with the command of the current control step (``ctrl`` as the
plant received it); writes ``data.ctrl`` and ``data.qfrc_applied``."""


class GapError(spec.SpecError):
    """A gap profile is invalid; the message names the file, the field and the valid options."""


@dataclass(frozen=True)
class GapTerm:
    """An unmodeled effect: its parameters (with bounds) and whether it acts on the command or as a force."""

    params: Mapping[str, tuple[float, float, bool]]
    """Numeric parameters: ``(low, high, strict low)``; the object parameter (actuator or joint) is apart."""
    target: str
    """``actuator`` or ``joint``: what it names (``all`` for every actuator)."""
    acts_on: str
    """``ctrl`` (rewrites the command before each physics step) or ``effort`` (a generalized force)."""
    defaults: Mapping[str, float]
    """Values of the optional parameters."""
    describe: str
    """What it does, with ``{name}`` fields filled in from the parameters."""


GAP_TERMS: dict[str, GapTerm] = {
    "torque_speed": GapTerm(
        {"no_load_speed": (0.0, np.inf, True), "stall": (0.0, 1.0, True)}, "actuator", "ctrl", {"stall": 1.0},
        "{target}: torque falls to 0 at {no_load_speed} rad/s (stall {stall} of full)",
    ),
    "deadband": GapTerm({"width": (0.0, 1.0, False)}, "actuator", "ctrl", {},
                        "{target}: deadband of {width} of the command range"),
    "joint_friction": GapTerm(
        {"coulomb": (0.0, np.inf, False), "slope": (0.0, np.inf, False), "rest": (-np.inf, np.inf, False)},
        "joint", "effort", {"slope": 0.0, "rest": 0.0},
        "{target}: friction {coulomb} + {slope}·|q - {rest}| N·m",
    ),
}  # fmt: skip
"""Every unmodeled effect a gap profile may name."""


@dataclass(frozen=True)
class Unmodeled:
    """One unmodeled term of a profile, validated."""

    term: str
    target: str
    params: Mapping[str, float]

    def text(self) -> str:
        return f"{self.term} " + GAP_TERMS[self.term].describe.format(target=self.target, **self.params)


@dataclass(frozen=True)
class GapProfile:
    """How one robot's real plant differs from the sim."""

    name: str
    robot: str
    description: str
    parametric: tuple[Perturbation, ...]
    unmodeled: tuple[Unmodeled, ...]
    source: str

    @property
    def is_none(self) -> bool:
        """Whether the profile changes nothing (the real plant is the sim)."""
        return not self.parametric and not self.unmodeled

    @property
    def hash(self) -> str:
        """SHA-256 of the profile's content (robot, parametric, unmodeled; not its name or file)."""
        parametric = [[p.family, sorted((k, str(v)) for k, v in p.params.items())] for p in self.parametric]
        unmodeled = [[u.term, u.target, sorted(u.params.items())] for u in self.unmodeled]
        content = {"robot": self.robot, "parametric": parametric, "unmodeled": unmodeled}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()

    @property
    def tag(self) -> str:
        """``<name>@<hash8>``: the profile in provenance and logs."""
        return f"{self.name}@{self.hash[:8]}"

    def changes(self) -> list[str]:
        """One line per thing the profile changes (``synthgate gaps``)."""
        out = []
        for p in self.parametric:
            params = ", ".join(f"{k}={'+'.join(v) if isinstance(v, tuple) else v}" for k, v in p.params.items())
            out.append(f"{p.family}({params})")
        return out + [u.text() for u in self.unmodeled]


def none(robot: str) -> GapProfile:
    """The empty profile of ``robot``: its real plant is the sim."""
    return GapProfile(NONE, robot, "no gap: the real plant is the sim", (), (), "<built in>")


# --- loading -------------------------------------------------------------------------------------


def _fail(source: str, path: str, message: str) -> GapError:
    return GapError(f"{source}: {path}: {message}")


def _parametric(source: str, path: str, data: Any, robot: str) -> Perturbation:
    family, params = spec.family_entry(source, path, data, ENTRY_KEYS, GAP_FAMILIES, "a scenario's family, not a "
                                       "gap's", robot)  # fmt: skip
    for key, value in params.items():
        if isinstance(value, Uniform | Choice):
            raise _fail(source, f"{path}.params.{key}", "a gap profile describes one plant: give a fixed value, "
                        "not a distribution (scenarios hold distributions)")  # fmt: skip
    missing = [k for k in FAMILY_TABLE[family].params if k not in params and k not in ("joint", "mode", "direction")]
    if missing:
        raise _fail(source, f"{path}.params", f"missing {missing} for {family}")
    return Perturbation(family, params)


def _unmodeled(source: str, path: str, data: Any, robot: str) -> Unmodeled:
    spec.check_keys(source, path, data, TERM_KEYS, ("term", "params"))
    name = data["term"]
    if name not in GAP_TERMS:
        raise _fail(source, f"{path}.term", f"unknown term {name!r}; valid: {', '.join(GAP_TERMS)}")
    if "gymnasium" not in get_robot(robot).tags:
        raise _fail(source, f"{path}.term", f"{robot} is a dm_control robot, whose step has no substep hook: "
                    "unmodeled terms need one (the Gymnasium robots have it); use parametric fields")  # fmt: skip
    term = GAP_TERMS[name]
    spec.check_keys(source, f"{path}.params", data["params"], (term.target, *term.params), (term.target,))
    target = data["params"][term.target]
    valid = spec.robot_names(robot)[term.target]
    if not isinstance(target, str) or (target not in valid and not (target == "all" and term.target == "actuator")):
        raise _fail(source, f"{path}.params.{term.target}", f"{robot} has no {term.target} {target!r}; valid: {valid}")
    values = dict(term.defaults)
    for key, (low, high, strict) in term.params.items():
        if key not in data["params"]:
            if key not in values:
                raise _fail(source, f"{path}.params", f"missing {key!r} for {name}")
            continue
        v = spec.number(source, f"{path}.params.{key}", data["params"][key])
        if not ((v > low if strict else v >= low) and v <= high):
            raise _fail(source, f"{path}.params.{key}", f"{v!r} is not physical: must be in "
                        f"{'(' if strict else '['}{low:g}, {high:g}]")  # fmt: skip
        values[key] = v
    return Unmodeled(name, target, values)


def parse(data: Any, source: str = "<gap>") -> GapProfile:
    """Validates a gap profile given as parsed YAML.

    Raises:
        GapError: anything invalid, naming ``source``, the field and the valid options.
    """
    try:
        spec.check_keys(source, "gap", data, KEYS, ("name", "robot"))
        for key in ("name", "robot", "description"):
            if key in data and not isinstance(data[key], str):
                raise _fail(source, key, f"must be a string, got {data[key]!r}")
        robot = data["robot"]
        if robot not in robot_names():
            raise _fail(source, "robot", f"unknown robot {robot!r}; valid: {', '.join(robot_names())}")
        if data["name"] == NONE:
            raise _fail(source, "name", f"{NONE!r} is the built-in empty profile; choose another name")
        lists = {}
        for key in ("parametric", "unmodeled"):
            items = data.get(key) or []
            if not isinstance(items, list):
                raise _fail(source, key, f"must be a list, got {items!r}")
            lists[key] = items
        parametric = tuple(_parametric(source, f"parametric[{i}]", p, robot) for i, p in enumerate(lists["parametric"]))
        unmodeled = tuple(_unmodeled(source, f"unmodeled[{i}]", u, robot) for i, u in enumerate(lists["unmodeled"]))
    except GapError:
        raise
    except spec.SpecError as err:
        raise GapError(str(err)) from None
    return GapProfile(data["name"], robot, data.get("description", ""), parametric, unmodeled, source)


def load(path: Path) -> GapProfile:
    """Loads and validates one profile file; its ``name`` must equal the file's stem."""
    profile = parse(spec.read_yaml(path, GapError), str(path))
    if profile.name != path.stem:
        raise _fail(str(path), "name", f"{profile.name!r} must equal the file name {path.stem!r}")
    return profile


def directories() -> list[Path]:
    """Where profile names are looked up: the library, then each directory of ``$SYNTHGATE_GAP_PATH``."""
    return spec.search_path(LIBRARY, PATH_ENV, GapError)


def files(robot: str) -> dict[str, Path]:
    """Every profile name of ``robot`` and its file; one name in two files is refused."""
    return spec.named_files([d / robot for d in directories()], f"{robot}'s gap profile", GapError)


def names(robot: str) -> list[str]:
    """Every profile name of ``robot``, ``none`` first."""
    return [NONE, *sorted(files(robot))]


is_path = spec.is_path


def get(name: str, robot: str) -> GapProfile:
    """The profile ``name`` of ``robot`` (``none``, the library, ``$SYNTHGATE_GAP_PATH``), or a file by path.

    Raises:
        GapError: an unknown name (listing the valid ones), a missing file, a file that does not
        validate, or a file made for another robot.
    """
    if is_path(name):
        path = Path(name).expanduser()
        if not path.is_file():
            raise GapError(f"gap profile file {name!r} does not exist")
        profile = load(path)
        if profile.robot != robot:
            raise _fail(str(path), "robot", f"the profile is for {profile.robot}, the run's robot is {robot}")
        return profile
    if name == NONE:
        return none(robot)
    found = files(robot)
    if name not in found:
        raise GapError(
            f"unknown gap profile {name!r} for {robot}; valid: {', '.join(names(robot))}. For a file of your "
            f"own, give its path, or put it in <dir>/{robot}/ with <dir> in ${PATH_ENV}"
        )
    return load(found[name])


# --- the engine ----------------------------------------------------------------------------------


def _actuators(model: mujoco.MjModel, target: str) -> list[int]:
    if target == "all":
        return list(range(model.nu))
    return [object_id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, target, "actuator")]


def substep_hook(model: mujoco.MjModel, terms: Sequence[Unmodeled]) -> Substep:
    """The per-physics-step function of a profile's unmodeled terms, bound to ``model``'s indices.

    Order: the deadband (in the motor, on the command as received), then the torque-speed clip (on
    the joint's current velocity), then the joint efforts. ``qfrc_applied`` is rewritten at every
    call, so nothing carries over between steps.
    """
    ctrl_terms, effort_terms = [], []
    for u in terms:
        if GAP_TERMS[u.term].acts_on == "ctrl":
            for a in _actuators(model, u.target):
                lo, hi = model.actuator_ctrlrange[a]
                full = max(abs(float(lo)), abs(float(hi)))
                dof = int(model.jnt_dofadr[model.actuator_trnid[a, 0]])
                sign = float(np.sign(model.actuator_gear[a, 0]) or 1.0)
                ctrl_terms.append((u.term, a, dof, full, sign, u.params))
        else:
            j = object_id(model, mujoco.mjtObj.mjOBJ_JOINT, u.target, "joint")
            effort_terms.append((int(model.jnt_dofadr[j]), int(model.jnt_qposadr[j]), u.params))
    ctrl_terms.sort(key=lambda t: t[0] != "deadband")  # deadband first, then the torque-speed clip

    def hook(m: mujoco.MjModel, data: mujoco.MjData, command: np.ndarray) -> None:
        ctrl = np.array(command, dtype=np.float64)
        for term, a, dof, full, sign, p in ctrl_terms:
            if term == "deadband":
                w = p["width"] * full
                ctrl[a] = np.sign(ctrl[a]) * max(abs(ctrl[a]) - w, 0.0)
            else:
                v = sign * float(data.qvel[dof]) / p["no_load_speed"]
                cap = p["stall"] * full
                ctrl[a] = min(max(ctrl[a], max(-cap, -cap * (1.0 + v))), min(cap, cap * (1.0 - v)))
        data.ctrl[:] = ctrl
        data.qfrc_applied[:] = 0.0
        for dof, qadr, p in effort_terms:
            q, qd = float(data.qpos[qadr]), float(data.qvel[dof])
            data.qfrc_applied[dof] -= (p["coulomb"] + p["slope"] * abs(q - p["rest"])) * np.tanh(qd / 0.1)

    return hook


def apply_model_fields(model: mujoco.MjModel, profile: GapProfile) -> None:
    """Applies a profile's model families to ``model`` in place (every value is fixed: nothing is drawn)."""
    fixed = np.random.default_rng(0)
    for p in profile.parametric:
        if p.family in MODEL_FAMILIES:
            for name, index, value in MODEL_FAMILIES[p.family](model, p.params, fixed):
                getattr(model, name)[index] = value


class GappedEnv(gym.Wrapper[np.ndarray, np.ndarray, np.ndarray, np.ndarray]):
    """A robot's plant with a gap profile: the real plant.

    At construction the model families are applied to the plant's model (so a later
    ``PerturbedEnv``'s pristine copy, and every reset, start from the real plant's model) and the
    unmodeled terms are installed as the plant's substep hook. Sensing and action noise draw from a
    stream seeded by ``reset(seed=...)``.
    """

    def __init__(self, env: gym.Env[np.ndarray, np.ndarray], profile: GapProfile) -> None:
        super().__init__(env)
        base: Any = env.unwrapped
        self.profile = profile
        model: mujoco.MjModel = base.mj_model
        apply_model_fields(model, profile)
        if profile.unmodeled:
            if not hasattr(base, "set_substep_hook"):
                raise GapError(f"gap profile {profile.tag}: {profile.robot}'s plant has no substep hook for "
                               "unmodeled terms")  # fmt: skip
            base.set_substep_hook(substep_hook(model, profile.unmodeled))
        self._per_step = [p for p in profile.parametric if p.family in PER_STEP_FAMILIES]
        self._cols = {id(p): np.concatenate([np.arange(base.layout.slice(str(f)).start, base.layout.slice(str(f)).stop)
                                             for f in p.params.get("fields", ())])  # type: ignore[union-attr]
                      for p in self._per_step if p.family != "action_noise"}  # fmt: skip
        self.rng = np.random.default_rng()

    def _sense(self, obs: np.ndarray) -> np.ndarray:
        out = np.asarray(obs, dtype=np.float32).copy()
        for p in self._per_step:
            if p.family == "obs_noise":
                cols = self._cols[id(p)]
                out[cols] += self.rng.normal(0.0, float(p.params["std"]), len(cols)).astype(np.float32)  # type: ignore[arg-type]
            elif p.family == "obs_bias":
                out[self._cols[id(p)]] += np.float32(p.params["bias"])  # type: ignore[arg-type]
        return out

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is not None:
            self.rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x6A7])
        obs, info = self.env.reset(seed=seed, options=options)
        return self._sense(obs), {**info, "gap": self.profile.tag}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        act = np.asarray(action, dtype=np.float32)
        for p in self._per_step:
            if p.family == "action_noise":
                act = np.clip(act + self.rng.normal(0.0, float(p.params["std"]), act.shape), -1, 1)  # type: ignore[arg-type]
        obs, reward, terminated, truncated, info = self.env.step(act.astype(np.float32))
        return self._sense(obs), reward, terminated, truncated, info
