"""The scenario library: every scenario conforms, and every bad file is a named, documented error."""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from helpers import model_arrays, rollout
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scenarios
from scenarios import library
from scenarios.library import LIBRARY, ScenarioError, parse

ALL = scenarios.names()


def test_library_spans_robots_and_kinds() -> None:
    loaded = [scenarios.get(n) for n in ALL]
    import robots

    locomotion = {s.robot for s in loaded if "locomotion" in robots.get(s.robot).tags}
    manipulation = {s.robot for s in loaded if "manipulation" in robots.get(s.robot).tags}
    assert len(loaded) >= 8 and len(locomotion) >= 3 and len(manipulation) >= 1


@pytest.mark.parametrize("name", ALL)
def test_scenario_applies_fires_is_seeded_and_resets_exactly(name: str) -> None:
    scenario = scenarios.get(name)
    env = scenario.make(max_episode_steps=250)
    pristine = model_arrays(env.pristine)
    steps = 230
    a = rollout(env, 11, steps)
    model_now = model_arrays(env.unwrapped.mj_model)
    b = rollout(env, 11, steps)
    np.testing.assert_array_equal(a, b)  # deterministic under a seed
    # fires at its trigger: every perturbation shows up in `active` at its hook's time
    for p in scenario.perturbations:
        times = [x["t"] for x in env.active if x["family"] == p.family]
        if p.trigger.hook == "on_reset":
            assert times == [0]
        elif p.trigger.hook == "at_step":
            assert times == [p.trigger.step]
        else:
            assert times == list(range(p.trigger.every, steps, p.trigger.every))
    # applies: the model changed, or the trajectory differs from the nominal plant's
    nominal = rollout(scenario.make(max_episode_steps=250).__class__(env.env, []), 11, steps)
    changed_model = any(not np.array_equal(model_now[k], v) for k, v in pristine.items())
    assert changed_model or not np.array_equal(a, nominal)
    env.restore_nominal()
    after = model_arrays(env.unwrapped.mj_model)
    assert all(np.array_equal(after[k], v) for k, v in pristine.items())


def _valid() -> dict[str, Any]:
    return yaml.safe_load((LIBRARY / "weak_knee.yaml").read_text())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(colour="red"), r"scenario: unknown key\(s\) \['colour'\]; valid: \['name', 'robot'"),
        (lambda d: d.update(metric=3), r"metric: must be a string, got 3"),
        (lambda d: d["perturbations"][0]["params"].update(scale={"uniform": [0.9, 0.2]}),
         r"perturbations\[0\].params.scale: range min 0.9 > max 0.2"),
        (lambda d: d["perturbations"][0]["params"].update(actuator="left_elbow"),
         r"perturbations\[0\].params.actuator: walker-walk has no actuator 'left_elbow'; valid: \['right_hip'"),
        (lambda d: d.update(predicate="exploded"),
         r"predicate: walker-walk has no failure predicate 'exploded'; valid: \['fell', 'tipped'\]"),
        (lambda d: d["perturbations"][0].update(family="gravity"), r"unknown family 'gravity'; valid: friction_scale"),
        (lambda d: d["perturbations"][0]["trigger"].update(hook="sometimes"), r"unknown hook 'sometimes'"),
        (lambda d: d.update(robot="walker-fly"), r"robot: unknown robot 'walker-fly'; valid: "),
        (lambda d: d["perturbations"][0]["params"].update(scale="big"),
         r"perturbations\[0\].params.scale: must be a number or a distribution of numbers, got 'big'"),
    ],
)  # fmt: skip
def test_each_invalid_field_is_named_with_the_file_and_options(edit: Any, message: str) -> None:
    data = _valid()
    edit(data)
    with pytest.raises(ScenarioError, match=message) as err:
        parse(data, "weak_knee.yaml")
    assert str(err.value).startswith("weak_knee.yaml: ")


@pytest.mark.parametrize(
    ("scenario", "param", "value", "message"),
    [
        ("heavy_payload", "mass", {"uniform": [-6.0, -2.0]}, r"params.mass: .* is not physical: a payload mass in kg"),
        ("slippery_floor", "scale", 0.0, r"params.scale: 0.0 is not physical: a friction scale must be > 0"),
        ("weak_knee", "scale", {"uniform": [-0.5, 0.5]}, r"params.scale: .* is not physical: a gear scale"),
        ("push_recovery", "force", {"uniform": [-10.0, 400.0]}, r"params.force: .* is not physical: a push"),
    ],
)  # fmt: skip
def test_physically_impossible_values_are_refused(scenario: str, param: str, value: Any, message: str) -> None:
    # issue 21, item 5: a payload of [-6, -2] kg was accepted and training ended in NaN at step 200
    data = yaml.safe_load((LIBRARY / f"{scenario}.yaml").read_text())
    data["perturbations"][0]["params"][param] = value
    with pytest.raises(ScenarioError, match=message):
        parse(data, f"{scenario}.yaml")


def test_unknown_scenario_lists_the_library() -> None:
    with pytest.raises(ScenarioError, match="valid: actuation_latency, dead_motor"):
        scenarios.get("meteor_strike")


def _user_file(directory: Path, name: str, **edits: Any) -> Path:
    data = yaml.safe_load((LIBRARY / "push_recovery.yaml").read_text())
    data.update(name=name, **edits)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_users_own_scenarios_by_path_and_by_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _user_file(tmp_path / "mine", "gentle_push", description="my own")
    by_path = scenarios.get(str(path))
    assert (by_path.name, by_path.description, by_path.source) == ("gentle_push", "my own", str(path))
    with pytest.raises(ScenarioError, match=r"unknown scenario 'gentle_push'.*SYNTHGATE_SCENARIO_PATH"):
        scenarios.get("gentle_push")
    monkeypatch.setenv("SYNTHGATE_SCENARIO_PATH", str(tmp_path / "mine"))
    assert "gentle_push" in scenarios.names() and "push_recovery" in scenarios.names()
    assert scenarios.get("gentle_push").description == "my own"
    with pytest.raises(ScenarioError, match=r"scenario file 'nowhere/x.yaml' does not exist"):
        scenarios.get("nowhere/x.yaml")


def test_a_broken_user_file_is_named_with_its_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = _user_file(tmp_path / "mine", "bad_push", predicate="exploded")
    with pytest.raises(ScenarioError, match=rf"{bad}.*predicate.*'exploded'"):
        scenarios.get(str(bad))
    monkeypatch.setenv("SYNTHGATE_SCENARIO_PATH", str(tmp_path / "mine"))
    with pytest.raises(ScenarioError, match=rf"{bad}.*predicate"):
        scenarios.get("bad_push")
    _user_file(tmp_path / "other", "push_recovery")
    monkeypatch.setenv("SYNTHGATE_SCENARIO_PATH", str(tmp_path / "other"))
    with pytest.raises(ScenarioError, match="'push_recovery' is in two files"):
        scenarios.get("push_recovery")
    monkeypatch.setenv("SYNTHGATE_SCENARIO_PATH", str(tmp_path / "absent"))
    with pytest.raises(ScenarioError, match=r"SYNTHGATE_SCENARIO_PATH: .*absent is not a directory"):
        scenarios.names()


_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 500) | st.floats(-10, 10) | st.just(float("nan"))
    | st.sampled_from(["torso", "right_knee", "fell", "hold", "on_reset", "at_step", "push", "uniform", "x"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["uniform", "choice", "family", "params", "trigger", "hook", "scale", "body", "step"]),
        inner, max_size=3),
    max_leaves=8,
)  # fmt: skip


@st.composite
def _mutated(draw: Any) -> dict[str, Any]:
    data = copy.deepcopy(yaml.safe_load((LIBRARY / draw(st.sampled_from(ALL))).with_suffix(".yaml").read_text()))
    for _ in range(draw(st.integers(1, 3))):
        target: Any = data
        path = draw(st.lists(st.sampled_from(["perturbations", 0, "params", "trigger", "family", "scale", "mass",
                                              "body", "hook", "step", "robot", "metric", "predicate", "extra"]),
                             max_size=4))  # fmt: skip
        for key in path[:-1]:
            if (isinstance(target, dict) and key in target) or (
                isinstance(target, list) and isinstance(key, int) and key < len(target)
            ):
                target = target[key]
        if path and isinstance(target, dict):
            target[path[-1]] = draw(_values)
        elif path and isinstance(target, list) and target:
            target[0] = draw(_values)
    return data


def _only_documented_errors(data: dict[str, Any]) -> None:
    with contextlib.suppress(ScenarioError):  # any other exception fails the test
        parse(data, "fuzz.yaml")


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(_mutated())
def test_fuzzed_files_raise_only_the_documented_error(data: dict[str, Any]) -> None:
    _only_documented_errors(data)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(_mutated())
def test_fuzzed_files_raise_only_the_documented_error_slow(data: dict[str, Any]) -> None:
    _only_documented_errors(data)


def test_one_scenario_name_twice_is_refused_by_path_as_by_name(tmp_path: Path) -> None:
    text = (library.LIBRARY / "push_recovery.yaml").read_text()
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "push_recovery.yaml").write_text(text)
    with pytest.raises(library.ScenarioError, match=r"names \['push_recovery'\] more than once"):
        library.resolve([str(tmp_path / "a" / "push_recovery.yaml"), str(tmp_path / "b" / "push_recovery.yaml")])
    group = {**yaml.safe_load(text)}
    with pytest.raises(library.ScenarioError, match="scenario=push_recovery is also in scenarios="):
        library.resolve([str(tmp_path / "a" / "push_recovery.yaml")], group)
    assert [s.name for s in library.resolve([str(tmp_path / "a" / "push_recovery.yaml")])] == ["push_recovery"]
