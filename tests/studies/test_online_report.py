"""The online comparison's report on hand-made logs: finals, paired intervals, verdicts, the
collapse rule and its first-diagnostic call, and the page it renders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from studies import online, online_report


def _run(final: float, r2: list[tuple[int, float]] = (), q: list[tuple[int, float]] = ()) -> dict[str, Any]:
    evals = [{"step": s, "return_mean": final, "q_over_mc": v, "mc_return_mean": 10.0} for s, v in q]
    evals = evals or [{"step": 2000, "return_mean": final, "q_over_mc": 1.0, "mc_return_mean": 10.0}]
    return {"final_return": final, "evals": evals, "retrains": [{"step": s, "diag/reward_r2": v} for s, v in r2]}


def _log() -> dict[str, Any]:
    runs = {f"sac-s{s}": _run(v) for s, v in enumerate((100.0, 110.0, 120.0))}
    runs |= {f"ftfl-s{s}": _run(v) for s, v in enumerate((110.0, 130.0, 150.0))}  # +10, +20, +30
    runs |= {f"sac_utd-s{s}": _run(v) for s, v in enumerate((140.0, 150.0, 160.0))}  # +40 each
    runs["mbpo-s0"] = _run(40.0, r2=[(1250, 0.5), (1500, -0.2)], q=[(2000, 1.0), (3000, 3.0)])
    runs["mbpo-s1"] = _run(60.0, r2=[(1250, 0.5)], q=[(2000, 2.5)])  # above half of sac's lowest (100)
    runs["mbpo-s2"] = _run(30.0, r2=[(1250, 0.4)], q=[(2000, 0.1), (2500, 1.0), (3000, 0.2)])
    return {"task": "cartpole-swingup", "scale": online.asdict(online.REDUCED), "runs": runs}


def test_finals_pairs_and_verdicts_by_hand() -> None:
    log = _log()
    assert online_report.finals(log, "ftfl") == {0: 110.0, 1: 130.0, 2: 150.0}
    seeds, d = online_report.paired(log, "ftfl")
    assert seeds == [0, 1, 2] and d.tolist() == [10.0, 20.0, 30.0]
    mean, low, high = online_report.t_interval(d)
    half = 4.302653 * 10.0 / np.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert (mean, low, high) == pytest.approx((20.0, 20.0 - half, 20.0 + half), abs=1e-4)
    assert online_report.direction((mean, low, high)) == "not distinguishable"
    assert online_report.direction(online_report.t_interval(online_report.paired(log, "sac_utd")[1])) == "higher"
    assert online_report.direction(online_report.t_interval([-3.0, -2.0, -4.0])) == "lower"
    assert online_report.direction(online_report.t_interval([5.0])) == "one seed"


def test_collapse_rule_and_first_diagnostic() -> None:
    log = _log()
    assert online_report.collapsed(log) == ["mbpo-s0", "mbpo-s2"]  # below half of 100, sac's lowest seed
    assert online_report.collapse_diagnosis(log, "mbpo-s0") == {"reward_r2_step": 1500, "q_step": 3000,
                                                                "first": "reward R²"}  # fmt: skip
    # Q/MC outside the range at 2000 had never been inside it: it left at 3000, after 2500 inside
    assert online_report.collapse_diagnosis(log, "mbpo-s2") == {"reward_r2_step": None, "q_step": 3000,
                                                                "first": "critic Q/MC"}  # fmt: skip


def test_render_names_rows_collapses_and_missing_runs(tmp_path: Path) -> None:
    log = _log()
    page = online_report.render([log])
    assert "| cartpole-swingup | `sac_utd` | 3 |" in page and "| higher |" in page
    assert "| cartpole-swingup | `ftfl` | 3 | 130.0 [" in page and "| not distinguishable |" in page
    assert "`mbpo-s0` (final 40.0): reward R² < 0 first at step 1500" in page
    assert "| `ftfl` | 3 | 130.0 [110.0, 150.0] | 110, 130, 150 | 20.0 [-4.8, 44.8] | not distinguishable | " \
           "-20.0 [-44.8, 4.8] | not distinguishable |" in page  # fmt: skip
    assert "- cartpole-swingup: 13 of 25 runs." in page and "- walker-walk: 25 of 25 runs." in page
    paths = online_report.plot(log, tmp_path, reps=50)
    assert all(p.stat().st_size > 1000 for p in paths)


def test_update_replaces_only_the_generated_part(tmp_path: Path) -> None:
    from studies import pages

    page = tmp_path / "page.md"
    begin, end = online_report.BEGIN, online_report.END
    page.write_text(f"intro\n{begin}\nold\n{end}\noutro\n")
    assert not pages.update(page, "new\n", begin, end, check=True, command="x")
    assert pages.update(page, "new\n", begin, end, check=False, command="x")
    assert page.read_text() == f"intro\n{begin}\nnew\n{end}\noutro\n"
    assert pages.update(page, "new\n", begin, end, check=True, command="x")
    with pytest.raises(ValueError, match="markers"):
        pages.splice("no markers", "new\n", begin, end)


def test_arms_differ_only_in_their_names_at_each_scale() -> None:
    for scale in online.SCALES.values():
        cmds = {a.key: online.command("cartpole-swingup", a.key, 0, scale=scale) for a in online.ARMS}
        shared = [x for x in cmds["sac"] if not x.startswith(("algo", "run_dir"))]
        assert all([x for x in c if not x.startswith(("algo", "run_dir"))] == shared for c in cmds.values())
        assert f"steps={scale.steps}" in shared
        assert "algo.utd=1" in cmds["sac"] and f"algo.utd={scale.utd}" in cmds["sac_utd"]
        for key in online_report.MODEL_ARMS:
            assert f"algo.utd={scale.utd}" in cmds[key]
            assert f"algo.rollouts_per_step={scale.rollouts_per_step}" in cmds[key]


def test_collect_keeps_curves_and_diagnostics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.setattr(online, "LOGS", tmp_path / "logs")
    run = online.run_path("cartpole-swingup", "ftfl", 1, tmp_path / "runs")
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("robot: cartpole-swingup\ndevice: cpu\n")
    (run / "summary.json").write_text(json.dumps({"steps": 10000, "updates": 45000, "eval_return_mean": 7.0,
                                                  "wall_s_this_session": 600.0}))  # fmt: skip
    (run / "metrics.jsonl").write_text(
        json.dumps({"kind": "episode", "step": 1000, "episode_return": 1.0}) + "\n"
        + json.dumps({"kind": "eval", "step": 10000, "return_mean": 7.5, "q_over_mc": 0.9, "returns": [7.5]}) + "\n"
    )  # fmt: skip
    (run / "ledger.jsonl").write_text(
        json.dumps({"kind": "retrain", "step": 1250, "diag/reward_r2": 0.8, "model/epochs": 6.0}) + "\n"
        + json.dumps({"kind": "rollout", "step": 1250}) + "\n"
    )  # fmt: skip
    path = online.collect("cartpole-swingup", tmp_path / "runs", host="test host")
    record = json.loads(path.read_text())["runs"]["ftfl-s1"]
    assert record["final_return"] == 7.5 and record["device"] == "cpu" and record["host"] == "test host"
    assert record["evals"] == [{"step": 10000, "return_mean": 7.5, "q_over_mc": 0.9}]
    assert record["retrains"] == [{"step": 1250, "diag/reward_r2": 0.8, "model/epochs": 6.0}]


def test_train_skips_runs_the_log_holds_and_runs_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without the run directories trains only what ``results/online/<task>.json`` lacks."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "cartpole-swingup.json").write_text('{"task": "cartpole-swingup", "runs": {"sac-s0": {}, "ftfl-s1": {}}}')
    monkeypatch.setattr(online, "LOGS", logs)
    started: list[list[str]] = []

    class Done:
        """Stands in for the ``synthgate train`` child: records its command and ends at once."""

        def __init__(self, cmd: list[str], **_: Any) -> None:
            started.append(cmd)

        def wait(self, timeout: float | None = None) -> int:
            return 0

    monkeypatch.setattr(online.subprocess, "Popen", Done)
    failed = online.train("cartpole-swingup", ["sac", "ftfl"], [0, 1], 1, tmp_path / "runs", 60.0, "cpu")
    names = sorted(next(a for a in c if a.startswith("run_dir=")).rsplit("/", 1)[1] for c in started)
    assert failed == 0 and names == ["ftfl-s0", "sac-s1"]
