"""The scenario library: named rare failure modes as YAML data, validated on load.

A scenario file (``scenarios/conf/scenario/<name>.yaml``, the Hydra group ``scenario``; or one of
the user's own, see :func:`get`) states:

    name:          the file's stem
    robot:         a registered robot
    description:   one line
    perturbations: a list of {family, params, trigger} (robots.perturbations); a parameter is a
                   fixed value, {uniform: [low, high]} or {choice: [options]}
    predicate:     the robot's failure predicate the scenario targets
    metric:        failure_rate | time_to_failure | return_under_perturbation

Loading checks everything before anything runs: an unknown key, a wrong type, a range with
min > max, a body, actuator, joint or observation field the robot does not have, an unknown
family, parameter, hook or predicate. Each is a :class:`ScenarioError` naming the file, the field
and the valid options. Nothing else escapes the loader.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import robots
from robots import spec
from robots.perturbations import HOOKS, SCENARIO_FAMILIES, Perturbation, PerturbedEnv, Trigger

LIBRARY = Path(__file__).parent / "conf" / "scenario"
PATH_ENV = "SYNTHGATE_SCENARIO_PATH"
"""Directories of the user's own scenario files (separated by ``os.pathsep``), searched after the library."""
METRICS = ("failure_rate", "time_to_failure", "return_under_perturbation")
KEYS = ("name", "robot", "description", "perturbations", "predicate", "metric")
PERTURBATION_KEYS = ("family", "params", "trigger")
TRIGGER_KEYS = ("hook", "step", "every", "duration")


class ScenarioError(spec.SpecError):
    """A scenario file is invalid; the message names the file, the field and the valid options."""


@dataclass(frozen=True)
class Scenario:
    """A named rare failure mode of one robot."""

    name: str
    robot: str
    description: str
    perturbations: tuple[Perturbation, ...]
    predicate: str
    metric: str
    source: str

    def make(self, seed: int | None = None, gap: Any = None, **settings: Any) -> PerturbedEnv:
        """The robot's plant under this scenario's perturbations (the real plant with ``gap``, a
        ``robots.gaps`` profile or its name; none: the sim)."""
        return PerturbedEnv(robots.make(self.robot, gap=gap, **settings), list(self.perturbations), seed=seed)


def _fail(source: str, path: str, message: str) -> ScenarioError:
    return ScenarioError(f"{source}: {path}: {message}")


def _perturbation(source: str, path: str, data: Any, robot: str) -> Perturbation:
    family, params = spec.family_entry(source, path, data, PERTURBATION_KEYS, SCENARIO_FAMILIES,
                                       "a gap profile's family (robots.gaps), not a scenario's", robot)  # fmt: skip
    trigger_in = data.get("trigger", {}) or {}
    spec.check_keys(source, f"{path}.trigger", trigger_in, TRIGGER_KEYS, ())
    hook = trigger_in.get("hook", "on_reset")
    if hook not in HOOKS:
        raise _fail(source, f"{path}.trigger.hook", f"unknown hook {hook!r}; valid: {', '.join(HOOKS)}")
    ints = {}
    for key in ("step", "every", "duration"):
        if key in trigger_in:
            v = trigger_in[key]
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise _fail(source, f"{path}.trigger.{key}", f"must be an integer >= 0, got {v!r}")
            ints[key] = v
    try:
        return Perturbation(family, params, Trigger(hook, **ints))
    except ValueError as err:
        raise _fail(source, path, str(err)) from None


def parse(data: Any, source: str = "<scenario>") -> Scenario:
    """Validates a scenario given as parsed YAML.

    Raises:
        ScenarioError: anything invalid, naming ``source``, the field and the valid options.
    """
    try:
        return _parse(data, source)
    except spec.SpecError as err:
        raise ScenarioError(str(err)) from None


def _parse(data: Any, source: str) -> Scenario:
    spec.check_keys(source, "scenario", data, KEYS, ("name", "robot", "perturbations", "predicate", "metric"))
    for key in ("name", "robot", "predicate", "metric", "description"):
        if key in data and not isinstance(data[key], str):
            raise _fail(source, key, f"must be a string, got {data[key]!r}")
    robot = data["robot"]
    if robot not in robots.names():
        raise _fail(source, "robot", f"unknown robot {robot!r}; valid: {', '.join(robots.names())}")
    predicates = sorted(robots.get(robot).predicates)
    if data["predicate"] not in predicates:
        raise _fail(source, "predicate", f"{robot} has no failure predicate {data['predicate']!r}; valid: {predicates}")
    if data["metric"] not in METRICS:
        raise _fail(source, "metric", f"unknown metric {data['metric']!r}; valid: {', '.join(METRICS)}")
    items = data["perturbations"]
    if not isinstance(items, list) or not items:
        raise _fail(source, "perturbations", f"must be a non-empty list, got {items!r}")
    perturbations = tuple(_perturbation(source, f"perturbations[{i}]", p, robot) for i, p in enumerate(items))
    return Scenario(data["name"], robot, data.get("description", ""), perturbations, data["predicate"],
                    data["metric"], source)  # fmt: skip


def load(path: Path) -> Scenario:
    """Loads and validates one scenario file; its ``name`` must equal the file's stem."""
    scenario = parse(spec.read_yaml(path, ScenarioError), str(path))
    if scenario.name != path.stem:
        raise _fail(str(path), "name", f"{scenario.name!r} must equal the file name {path.stem!r}")
    return scenario


def resolve(listed: Sequence[str], group: Mapping[str, Any] | None = None) -> list[Scenario]:
    """The scenarios a run uses: each name (or file path) of ``listed``, then the Hydra group's
    ``scenario`` (its data as Hydra loaded it, overrides included).

    Raises:
        ScenarioError: an unknown name, invalid group data, or one scenario name twice (two files
        with one stem, or a listed one that is also the group's).
    """
    out = [get(name) for name in listed]
    seen = [s.name for s in out]
    twice = sorted({n for n in seen if seen.count(n) > 1})
    if twice:
        raise ScenarioError(f"scenarios={list(listed)} names {twice} more than once (a file is named by its stem)")
    if group is not None:
        if group.get("name") in seen:
            raise ScenarioError(f"scenario={group.get('name')} is also in scenarios={list(listed)}: name it once")
        out.append(parse(dict(group), f"scenario={group.get('name')} (Hydra group scenario, {LIBRARY})"))
    return out


def directories() -> list[Path]:
    """Where scenario names are looked up: the library, then each directory of ``$SYNTHGATE_SCENARIO_PATH``."""
    return spec.search_path(LIBRARY, PATH_ENV, ScenarioError)


def files() -> dict[str, Path]:
    """Every scenario name and its file, over :func:`directories`; one name in two files is refused."""
    return spec.named_files(directories(), "scenario", ScenarioError)


def names() -> list[str]:
    """Every scenario name: the library's and those in the user's directories."""
    return sorted(files())


is_path = spec.is_path


def get(name: str) -> Scenario:
    """A scenario by name (the library, then ``$SYNTHGATE_SCENARIO_PATH``'s directories) or by the
    path of a YAML file of the user's own; an unknown name lists the valid ones.

    Raises:
        ScenarioError: an unknown name, a missing file, or a file that does not validate (naming
        the file and the field).
    """
    if is_path(name):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ScenarioError(f"scenario file {name!r} does not exist")
        return load(path)
    found = files()
    if name not in found:
        raise ScenarioError(
            f"unknown scenario {name!r}; valid: {', '.join(sorted(found))}. For a file of your own, give "
            f"its path, or put it in a directory named by ${PATH_ENV}"
        )
    return load(found[name])
