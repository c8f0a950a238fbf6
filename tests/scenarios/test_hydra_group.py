"""The scenario library is the Hydra group ``scenario``: ``scenario=<name>`` (with field overrides)
works like ``scenarios=[<name>]``, and the run records the scenario's data."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers import synthgate

import robots
import scenarios
from pipeline import checkpoint
from robots.perturbations import Uniform


def test_resolve_lists_then_group() -> None:
    group = yaml.safe_load((scenarios.library.LIBRARY / "weak_knee.yaml").read_text())
    group["perturbations"][0]["params"]["scale"] = {"uniform": [0.1, 0.2]}
    chosen = scenarios.resolve(["slippery_floor"], group)
    assert [s.name for s in chosen] == ["slippery_floor", "weak_knee"]
    assert chosen[1].perturbations[0].params["scale"] == Uniform(0.1, 0.2)
    with pytest.raises(scenarios.ScenarioError, match="name it once"):
        scenarios.resolve(["weak_knee"], group)
    group["perturbations"][0]["params"]["actuator"] = "tail"
    with pytest.raises(scenarios.ScenarioError, match="has no actuator 'tail'"):
        scenarios.resolve([], group)


def test_scenario_group_on_the_command_line(tmp_path: Path) -> None:
    run = synthgate("train", "robot=walker-walk", "algo=sac", "scenario=weak_knee",
                    "scenario.perturbations.0.params.scale.uniform=[0.1,0.2]", "exposure=1.0", "context=true",
                    "steps=30", "learning_starts=10", "eval_every=0", "eval_episodes=1", "progress=false", "threads=1",
                    "+robot_settings.max_episode_steps=10", f"run_dir={tmp_path}/run")  # fmt: skip
    assert run.returncode == 0, run.stderr
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["scenario"]["name"] == "weak_knee"
    assert saved["scenario"]["perturbations"][0]["params"]["scale"] == {"uniform": [0.1, 0.2]}
    found = checkpoint.load_latest(tmp_path / "run" / "checkpoints")
    assert found is not None
    buffer = found[1]["buffer"]
    assert buffer["origins"] == ["walker-walk/plant:weak_knee"]
    knee = buffer["ctx"][:, robots.context_layout("walker-walk").index("actuator_scale.right_knee")]
    assert ((knee >= -0.9 - 1e-6) & (knee <= -0.8 + 1e-6)).all()  # the overridden range, not the library's
    bad = synthgate("train", "robot=walker-walk", "scenario=weak_knee", "scenarios=[weak_knee]", "exposure=0.5",
                    "steps=10", f"run_dir={tmp_path}/bad")  # fmt: skip
    assert bad.returncode == 2 and "name it once" in bad.stderr
    unknown = synthgate("train", "robot=walker-walk", "scenario=meteor", "steps=10", f"run_dir={tmp_path}/u")
    assert unknown.returncode != 0 and "meteor" in unknown.stderr
