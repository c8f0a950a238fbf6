"""docs/results.md's tables are what the saved logs give (studies/results.py), and a changed log
changes them."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _results_module():  # run as a script, not imported as studies.results
    spec = importlib.util.spec_from_file_location("results", ROOT / "studies" / "results.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["results"] = module
    spec.loader.exec_module(module)
    return module


def test_the_results_page_matches_the_saved_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    results = _results_module()
    monkeypatch.chdir(ROOT)
    text = (ROOT / "docs" / "results.md").read_text()
    generated = text.split(results.BEGIN, 1)[1].split(results.END, 1)[0]
    assert generated == "\n" + results.generate(), "docs/results.md is stale: run python studies/results.py"


def test_a_changed_log_row_changes_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = _results_module()
    monkeypatch.chdir(ROOT)
    before = results.generate()
    rows = [json.loads(line) for line in results.STUDY.read_text().splitlines() if line.strip()]
    shown = results.newest(rows)  # each task's newest test-set version is what the table shows
    target = shown[0]
    target["reward_nrmse"] *= 2.0
    changed = tmp_path / "results.jsonl"
    changed.write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setattr(results, "STUDY", changed)
    assert results.generate() != before
    fit = (target["task"], target["variant"], target["seed"])
    missing = tmp_path / "fewer.jsonl"  # that fit gone from every test-set version
    missing.write_text("".join(json.dumps(r) + "\n" for r in rows if (r["task"], r["variant"], r["seed"]) != fit))
    monkeypatch.setattr(results, "STUDY", missing)
    assert f"{target['task']}" in results.generate().split("### Not run yet")[1]  # its gap is listed
