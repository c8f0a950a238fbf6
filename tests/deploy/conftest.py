"""Fixtures for deploy tests: one tiny trained run, a PROMOTE gate report (a test fixture, not a
validation result), and the bundle exported from them, shared by the whole session."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import synthgate

TINY_RUN = [
    "robot=cheetah-run", "algo=sac", "steps=300", "learning_starts=200", "eval_every=0", "eval_episodes=1",
    "progress=false", "threads=1", "sac.hidden=32", "sac.batch_size=32", "+robot_settings.max_episode_steps=200",
    "+robot_settings.action_repeat=2",
]  # fmt: skip
"""cheetah-run with action_repeat 2: a 50 Hz policy (the plant's control step is 10 ms)."""


def gate_report(run_dir: Path, decision: str = "PROMOTE", failed: tuple[str, ...] = ()) -> dict[str, object]:
    """A gate report that validates against validation/schemas/gate_report.schema.json.

    TEST FIXTURE: written by hand to exercise deploy's gate; no panel was evaluated.
    """
    rules = [
        {"name": "targeted_metric_improves", "passed": "targeted_metric_improves" not in failed,
         "detail": "TEST FIXTURE: no panel was run", "scenario": None, "values": {}},
        {"name": "nominal_non_inferior", "passed": "nominal_non_inferior" not in failed,
         "detail": "TEST FIXTURE: no panel was run", "scenario": None, "values": {}},
    ]  # fmt: skip
    return {
        "schema_version": 1,
        "decision": decision,
        "failed_rules": list(failed),
        "rules": rules,
        "candidate": str(run_dir),
        "baseline": "TEST FIXTURE (no baseline)",
        "robot": "cheetah-run",
        "scenarios": [],
        "created": "2026-11-22T00:00:00+00:00",
        "test_fixture": True,
    }


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 300-step cheetah-run SAC run (32-wide networks) without a gate report."""
    run = tmp_path_factory.mktemp("deploy") / "run"
    trained = synthgate("train", *TINY_RUN, f"run_dir={run}")
    assert trained.returncode == 0, trained.stderr[-2000:]
    return run


@pytest.fixture(scope="session")
def promoted_run(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny run with a PROMOTE gate report (test fixture)."""
    run = tmp_path_factory.mktemp("promoted") / "run"
    shutil.copytree(tiny_run, run)
    (run / "gate_report.json").write_text(json.dumps(gate_report(run)))
    return run


@pytest.fixture(scope="session")
def bundle(promoted_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The promoted run exported with ``synthgate deploy export`` (never modified by tests: copy it)."""
    out = tmp_path_factory.mktemp("bundle") / "cheetah-b"
    exported = synthgate("deploy", "export", str(promoted_run), "--out", str(out))
    assert exported.returncode == 0, exported.stderr[-2000:]
    return out
