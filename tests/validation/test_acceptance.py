"""Acceptance: the gate rejects a shortcut and promotes a genuinely better policy, through real
plant panels, from run directories, by the command a user runs (fixtures: conftest.py)."""

from __future__ import annotations

from pathlib import Path

import helpers as sft
from helpers import synthgate

from pipeline.runs import load_run
from validation.report import read_report
from validation.validate import PanelOptions, run_gate

SCENARIOS = f"{sft.PAYLOAD},{sft.WEAK_THIGH}"
EPISODES = 12


def validate(candidate: Path, baseline: Path, out: Path) -> tuple[int, dict]:  # type: ignore[type-arg]
    # One run per side: these tests judge two policies (min_seed_pairs=1), not a training
    # configuration, which by default needs 3 seed pairs (test_gate.py).
    res = synthgate("validate", str(candidate), "--baseline", str(baseline), "--scenarios", SCENARIOS,
                    "--episodes", str(EPISODES), "--out", str(out), "--gate", "min_seed_pairs=1")  # fmt: skip
    assert res.returncode in (0, 1), res.stderr
    report = read_report(out / "gate_report.json")
    assert report["decision"] in res.stdout
    # The decision rests on plant episodes: every arm ran EPISODES real episodes per condition.
    assert report["timing"]["real_episode_steps"] > 0
    for arm in ("candidate", "baseline"):
        for cond in ("nominal", sft.PAYLOAD, sft.WEAK_THIGH):
            cell = report["panels"]["real"]["arms"][arm][cond]
            assert cell["n"] == EPISODES and cell["synthetic_share"] == 0.0
    return res.returncode, report


def test_a_shortcut_world_model_is_rejected_for_disagreeing_with_the_plant(
    hopper_runs: dict[str, Path], tmp_path: Path
) -> None:
    code, report = validate(hopper_runs["shortcut"], hopper_runs["baseline"], tmp_path)
    assert code == 1 and report["decision"] == "REJECT"
    # Its model never lets the hopper tip; on the plant the candidate tips as often as the baseline.
    syn = report["panels"]["synthetic"]["arms"]["candidate"][sft.PAYLOAD]
    real = report["panels"]["real"]["arms"]["candidate"][sft.PAYLOAD]
    assert syn["failure_rate"] == 0.0 and real["failure_rate"] > 0.5
    assert f"synthetic_real_agreement:{sft.PAYLOAD}" in report["failed_rules"]
    assert f"targeted_improvement:{sft.PAYLOAD}" in report["failed_rules"]
    page = (tmp_path / "report.html").read_text()
    assert "REJECT" in page and "synthetic_real_agreement" in page


def test_a_genuinely_better_policy_is_promoted(hopper_runs: dict[str, Path], tmp_path: Path) -> None:
    code, report = validate(hopper_runs["better"], hopper_runs["baseline"], tmp_path)
    assert report["failed_rules"] == [], report["failed_rules"]
    assert code == 0 and report["decision"] == "PROMOTE"
    real = report["panels"]["real"]["arms"]
    assert real["candidate"][sft.PAYLOAD]["failure_rate"] < real["baseline"][sft.PAYLOAD]["failure_rate"]
    # `synthgate report` re-reads (schema-checks) the report and rebuilds the page.
    (tmp_path / "report.html").unlink()
    again = synthgate("report", str(tmp_path))
    assert again.returncode == 0 and "PROMOTE" in again.stdout and (tmp_path / "report.html").is_file()


def test_the_same_runs_the_other_way_round_are_rejected(hopper_runs: dict[str, Path]) -> None:
    # The promotion above is not a property of the inputs' shape: swap the roles and the real
    # panel says the new candidate is worse.
    report = run_gate([load_run(hopper_runs["baseline"])], [load_run(hopper_runs["better"])],
                      [sft.payload(), sft.weak_thigh()], model_run=load_run(hopper_runs["better"]),
                      options=PanelOptions(episodes=EPISODES))  # fmt: skip
    assert report["decision"] == "REJECT"
    assert {f"targeted_improvement:{sft.PAYLOAD}", f"targeted_improvement:{sft.WEAK_THIGH}",
            "nominal_non_inferiority"} <= set(report["failed_rules"])  # fmt: skip
