"""Fixtures for deploy tests: one tiny trained run, a PROMOTE gate report (a test fixture, not a
validation result), and the bundle exported from them, shared by the whole session."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from deploy_helpers import TINY_RUN, gate_report
from helpers import synthgate


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
