"""gate_report.json against its schema (the contract with deploy), the HTML page, the CLI errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import helpers as sft
import pytest
from helpers import synthgate

from pipeline.runs import load_run
from validation.report import ReportError, check, read_report, render_html, write_report
from validation.validate import PanelOptions, run_gate

MINIMAL: dict[str, Any] = {
    "schema_version": 1, "decision": "REJECT", "failed_rules": ["ledger_anchor"],
    "rules": [{"name": "ledger_anchor", "passed": False, "detail": "d", "scenario": None, "values": {}}],
    "candidate": "runs/c", "baseline": "runs/b", "robot": "Hopper-v5", "scenarios": ["s"],
    "created": "2026-11-22T00:00:00+00:00",
}  # fmt: skip


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    path = write_report(MINIMAL, tmp_path)
    assert read_report(path) == MINIMAL


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r.pop("decision"), "'decision' is a required property"),
        (lambda r: r.update(schema_version=2), "schema_version"),
        (lambda r: r.update(decision="MAYBE"), "decision"),
        (lambda r: r["rules"][0].update(extra=1), "rules/0"),
        (lambda r: r.update(decision="PROMOTE"), "contradicts"),
    ],
)
def test_invalid_reports_are_refused_on_write_and_on_read(tmp_path: Path, edit: Any, message: str) -> None:
    bad = copy.deepcopy(MINIMAL)
    edit(bad)
    with pytest.raises(ReportError, match=message):
        write_report(bad, tmp_path)
    (tmp_path / "gate_report.json").write_text(json.dumps(bad))
    with pytest.raises(ReportError, match=message):
        read_report(tmp_path / "gate_report.json")


def test_check_accepts_added_fields() -> None:
    check({**MINIMAL, "panels": {}, "anything_else": [1, 2]})


def test_report_command_refuses_an_invalid_report(tmp_path: Path) -> None:
    (tmp_path / "gate_report.json").write_text("{}")
    res = synthgate("report", str(tmp_path))
    assert res.returncode == 2 and "required property" in res.stderr


def test_validate_command_names_a_bad_gate_key(tmp_path: Path) -> None:
    res = synthgate("validate", str(tmp_path), "--baseline", str(tmp_path), "--gate", "nonsense=1")
    assert res.returncode == 2 and "confidence" in res.stderr  # lists the valid keys


def test_gate_overrides_are_typed_and_checked() -> None:
    from synthgate.validation_cli import gate_overrides

    assert gate_overrides(["max_mmrv=0.2", "bootstrap_samples=500"], "validate").max_mmrv == 0.2
    with pytest.raises(SystemExit):
        gate_overrides(["confidence=2"], "validate")


def test_html_is_offline(hopper_runs: dict[str, Path], tmp_path: Path) -> None:
    report = run_gate([load_run(hopper_runs["better"])], [load_run(hopper_runs["baseline"])], [sft.payload()],
                      options=PanelOptions(episodes=4, max_steps=40))  # fmt: skip
    page = render_html(report)
    assert page.count("data:image/png;base64,") >= 3  # two distributions and the scatter, embedded
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert f"id='decision' class='{report['decision']}'" in page
    # issue 21, item 8: no second "mean return" column where the metric is the return, no "r nan"
    returns = [c for c in report["conditions"] if c["metric"] in ("return", "return_under_perturbation")]
    assert returns and page.count("<th>mean return</th>") == len(report["conditions"])  # one per table
    assert "Pearson r nan" not in page
    # issue 21, item 9: each shown arm's first real-panel failure as frames, and the learning curves
    shots = report["failure_frames"]
    assert set(shots) == {c["name"] for c in report["conditions"]}
    assert all(set(per) == {"candidate", "baseline"} for per in shots.values())
    failed = [e for per in shots.values() for e in per.values() if e["failed"]]
    assert failed and all(e["frames"] == 4 and e["jpeg"] in page for e in failed)
    assert "Learning curves" in page and set(report["curves"]) == set(report["runs"]) - set(
        report["arms"]["references"]
    )


def test_pearson_note_says_why_r_is_not_judged() -> None:
    from validation.gate import pearson_note

    assert pearson_note(0.8123, 4, True, 0.7) == "Pearson r 0.812 (min 0.7)"
    assert (
        pearson_note(float("nan"), 2, False, 0.7)
        == "Pearson r undefined (one panel's scores are all equal): not judged"
    )
    assert pearson_note(float("nan"), 1, False, 0.7) == "Pearson r undefined (fewer than 2 policies): not judged"
    assert pearson_note(1.0, 2, False, 0.7) == "Pearson r 1.000 not judged (needs 3 or more policies, 2 here)"


def test_tensorboard_summaries_hold_the_decision(hopper_runs: dict[str, Path], tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from validation.validate import write_all

    report = run_gate([load_run(hopper_runs["better"])], [load_run(hopper_runs["baseline"])], [sft.payload()],
                      options=PanelOptions(episodes=4, max_steps=40))  # fmt: skip
    write_all(report, tmp_path)
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    promote = events.Scalars("gate/promote")[0].value
    assert promote == float(report["decision"] == "PROMOTE")
    cell = report["panels"]["real"]["arms"]["candidate"][sft.PAYLOAD]
    tag = f"validation/real/{sft.PAYLOAD}/candidate_failure_rate"
    assert events.Scalars(tag)[0].value == cell["mean"]


def test_a_gapped_real_panel_comes_with_a_sim_panel_beside_it(hopper_runs: dict[str, Path]) -> None:
    """Issue 31: report.html shows the sim panel beside the real one; the rules do not read it."""
    options = PanelOptions(episodes=4, max_steps=40, gap="default")
    report = run_gate([load_run(hopper_runs["better"])], [load_run(hopper_runs["baseline"])], [sft.payload()],
                      options=options)  # fmt: skip
    assert set(report["panels"]) == {"real", "sim", "synthetic", "mixed"} and report["panel_spec"]["gap"] == "default"
    real, sim = (report["panels"][p]["policies"] for p in ("real", "sim"))
    assert real.keys() == sim.keys() and any(real[k]["nominal"] != sim[k]["nominal"] for k in real)
    page = render_html(report)
    assert "<td>sim</td>" in page and "gap profile <code>default</code>; the <b>sim</b> panel" in page
    plain = run_gate([load_run(hopper_runs["better"])], [load_run(hopper_runs["baseline"])], [sft.payload()],
                     options=PanelOptions(episodes=4, max_steps=40))  # fmt: skip
    assert "sim" not in plain["panels"] and "<td>sim</td>" not in render_html(plain)
