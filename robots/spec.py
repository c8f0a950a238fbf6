"""Validation of perturbation data read from YAML, shared by every file format that holds it.

Scenario files (``scenarios.library``) and gap profiles (``robots.gaps``) both name perturbation
families and their parameters; both are checked here, once, against the robot's own bodies,
actuators, joints and observation fields and against the physical bounds of
``robots.perturbations.LOWER_BOUNDS``. Every error is a :class:`SpecError` that names the file,
the field and the valid options.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import mujoco
import yaml

from robots import get as get_robot
from robots import make
from robots.perturbations import (
    FAMILIES,
    FAMILY_TABLE,
    LOWER_BOUNDS,
    PARAMS,
    Choice,
    Param,
    Uniform,
    actuator_names,
    body_names,
)


class SpecError(ValueError):
    """Invalid perturbation data; the message names the file, the field and the valid options."""


def fail(source: str, path: str, message: str) -> SpecError:
    """The error for field ``path`` of file ``source``."""
    return SpecError(f"{source}: {path}: {message}")


@cache
def robot_names(robot: str) -> dict[str, list[str]]:
    """A robot's bodies, actuators, joints (with ``all``) and observation fields, by kind."""
    env = make(robot)
    model = env.unwrapped.mj_model  # type: ignore[attr-defined]
    joints = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, i) for i in range(model.njnt)]
    out = {"body": body_names(model), "actuator": actuator_names(model), "joint": ["all", *joints],
           "fields": list(get_robot(robot).layout.keys())}  # fmt: skip
    env.close()
    return out


def check_keys(source: str, path: str, data: Any, valid: tuple[str, ...], required: tuple[str, ...]) -> None:
    """``data`` is a mapping with only ``valid`` keys and every ``required`` one."""
    if not isinstance(data, Mapping):
        raise fail(source, path, f"must be a mapping with keys {list(valid)}, got {type(data).__name__}")
    unknown = [k for k in data if k not in valid]
    if unknown:
        raise fail(source, path, f"unknown key(s) {unknown}; valid: {list(valid)}")
    missing = [k for k in required if k not in data]
    if missing:
        raise fail(source, path, f"missing key(s) {missing}")


def number(source: str, path: str, value: Any) -> float:
    """``value`` as a finite float."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise fail(source, path, f"must be a finite number, got {value!r}")
    return float(value)


def param(source: str, path: str, value: Any) -> Param:
    """A parameter: a number, a string, ``{uniform: [min, max]}`` or ``{choice: [...]}``."""
    if isinstance(value, Mapping):
        if set(value) == {"uniform"}:
            bounds = value["uniform"]
            if not isinstance(bounds, list) or len(bounds) != 2:
                raise fail(source, path, f"uniform needs [min, max], got {bounds!r}")
            low, high = (number(source, f"{path}.uniform[{i}]", b) for i, b in enumerate(bounds))
            if low > high:
                raise fail(source, path, f"range min {low} > max {high}")
            return Uniform(low, high)
        if set(value) == {"choice"}:
            options = value["choice"]
            if not isinstance(options, list) or not options:
                raise fail(source, path, f"choice needs a non-empty list, got {options!r}")
            return Choice(tuple(options))
        raise fail(source, path, f"a distribution is {{uniform: [min, max]}} or {{choice: [...]}}, got {dict(value)!r}")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise fail(source, path, f"must be a number, a string or a distribution, got {value!r}")
    return value


NAMED = ("body", "actuator", "joint")
"""Parameters that name an object of the robot."""
NUMERIC = ("scale", "mass", "force", "std", "bias", "steps")
"""Parameters that must be numbers (or distributions of numbers)."""


def _options(value: Param) -> tuple[Any, ...]:
    return value.options if isinstance(value, Choice) else (value,)


def _check_value(source: str, where: str, family: str, key: str, value: Param, raw: Any, robot: str) -> None:
    options = _options(value)
    if key in NUMERIC and not isinstance(value, Uniform):
        for option in options:
            if isinstance(option, bool) or not isinstance(option, int | float) or not math.isfinite(option):
                raise fail(source, where, f"must be a number or a distribution of numbers, got {option!r}")
    if (family, key) in LOWER_BOUNDS:
        bound, strict, why = LOWER_BOUNDS[(family, key)]
        values = (value.low, value.high) if isinstance(value, Uniform) else options
        if [v for v in values if isinstance(v, int | float) and (v <= bound if strict else v < bound)]:
            raise fail(source, where, f"{raw!r} is not physical: {why}")
    if key == "steps" and not all(isinstance(o, int) and not isinstance(o, bool) and o >= 1 for o in options):
        raise fail(source, where, f"must be an integer >= 1 (or a choice of them), got {raw!r}")
    modes = FAMILY_TABLE[family].modes
    if key == "mode" and any(o not in modes for o in options):
        raise fail(source, where, f"{raw!r} is not a mode of {family}; valid: {list(modes)}")
    if key in NAMED:
        if not all(isinstance(o, str) for o in options):
            raise fail(source, where, f"must be a {key} name, got {raw!r}")
        names = robot_names(robot)[key]
        for option in options:
            if option not in names:
                raise fail(source, where, f"{robot} has no {key} {option!r}; valid: {names}")


def family_params(source: str, path: str, family: str, params_in: Any, robot: str) -> dict[str, Any]:
    """A family's parameters checked against the family, the robot and the physical bounds.

    Raises:
        SpecError: an unknown parameter, a wrong type, a value that is not physical, or a body,
        actuator, joint or observation field the robot does not have.
    """
    check_keys(source, path, params_in, PARAMS[family], ())
    params: dict[str, Any] = {}
    for key, raw in params_in.items():
        where = f"{path}.{key}"
        if key in ("direction", "fields"):
            if not isinstance(raw, list) or not raw:
                raise fail(source, where, f"must be a non-empty list, got {raw!r}")
            if key == "direction":
                params[key] = tuple(number(source, f"{where}[{i}]", v) for i, v in enumerate(raw))
            else:
                valid = robot_names(robot)["fields"]
                bad = [f for f in raw if f not in valid]
                if bad:
                    raise fail(source, where, f"{bad} are not observation fields of {robot}; valid: {valid}")
                params[key] = tuple(raw)
            continue
        params[key] = param(source, where, raw)
        _check_value(source, where, family, key, params[key], raw, robot)
    return params


def family_entry(
    source: str, path: str, data: Any, keys: tuple[str, ...], allowed: tuple[str, ...], elsewhere: str, robot: str
) -> tuple[str, dict[str, Any]]:
    """A ``{family, params, ...}`` entry: its family (one of ``allowed``) and checked parameters.

    Args:
        keys: the keys the entry may have.
        allowed: the families this kind of file may use.
        elsewhere: what a known family outside ``allowed`` is (said in the error).

    Raises:
        SpecError: an unknown key or family, or a bad parameter (:func:`family_params`).
    """
    check_keys(source, path, data, keys, ("family",))
    family = data["family"]
    if family not in allowed:
        why = elsewhere if family in FAMILIES else "unknown family"
        raise fail(source, f"{path}.family", f"{why} {family!r}; valid: {', '.join(allowed)}")
    return family, family_params(source, f"{path}.params", family, data.get("params", {}) or {}, robot)


# --- libraries of YAML files: the package's, then the user's directories ---------------------


def read_yaml(path: Path, error: type[SpecError]) -> Any:
    """A YAML file's data; an unreadable or malformed file is ``error`` naming it."""
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise error(f"{path}: cannot read: {err}") from None


def is_path(text: str) -> bool:
    """Whether a library entry (a scenario, a gap profile) is given as a file path rather than a name."""
    return text.endswith((".yaml", ".yml")) or "/" in text or os.sep in text


def entry_name(text: str) -> str:
    """The name a library entry stands for: itself, or a file path's stem (a file's entry must be
    named as its file, which the loaders check)."""
    return Path(text).stem if is_path(text) else text


def search_path(library: Path, env: str, error: type[SpecError]) -> list[Path]:
    """``library``, then each directory of ``$env`` (``os.pathsep``-separated); a missing one is ``error``."""
    extra = [Path(d).expanduser() for d in os.environ.get(env, "").split(os.pathsep) if d]
    for d in extra:
        if not d.is_dir():
            raise error(f"{env}: {d} is not a directory")
    return [library, *extra]


def named_files(dirs: list[Path], what: str, error: type[SpecError]) -> dict[str, Path]:
    """Every ``*.yaml`` of ``dirs`` by stem; one stem in two files is ``error`` (``what`` names the kind)."""
    found: dict[str, Path] = {}
    for d in dirs:
        for path in sorted(d.glob("*.yaml")):
            if path.stem in found:
                raise error(f"{what} {path.stem!r} is in two files, {found[path.stem]} and {path}: rename one")
            found[path.stem] = path
    return found
