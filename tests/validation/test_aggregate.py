"""IQM and stratified bootstrap, checked against hand-computed values; loading a sweep directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from validation.aggregate import AggregateError, aggregate, iqm, load_runs, stratified_bootstrap_ci


def test_iqm_by_hand() -> None:
    # 8 scores: 25% cut from each end removes two on each side; mean of 3, 4, 5, 6.
    assert iqm(np.array([8.0, 1, 7, 2, 6, 3, 5, 4])) == pytest.approx(4.5)
    # An outlier does not move the IQM.
    assert iqm(np.array([1.0, 2, 3, 4, 5, 6, 7, 1e9])) == pytest.approx(4.5)


def test_bootstrap_strata_are_kept_apart() -> None:
    # One seed per task: every resample is the same set, so the interval collapses onto the IQM.
    strata = [np.array([1.0]), np.array([5.0]), np.array([9.0]), np.array([13.0])]
    low, high = stratified_bootstrap_ci(strata, reps=200)
    assert low == pytest.approx(iqm(np.array([1.0, 5, 9, 13]))) and high == pytest.approx(low)
    # Spread within a task widens the interval, and it contains the point estimate.
    wide = [np.array([0.0, 10.0, 20.0, 30.0]), np.array([5.0, 6.0, 7.0, 8.0])]
    low, high = stratified_bootstrap_ci(wide, reps=500)
    assert low < iqm(np.concatenate(wide)) < high


def _run(root: Path, robot: str, algo: str, seed: int, final: float) -> None:
    run = root / f"{robot}-{algo}-s{seed}"
    run.mkdir(parents=True)
    summary = {"robot": robot, "algo": algo, "seed": seed, "eval_return_mean": final}
    (run / "summary.json").write_text(json.dumps(summary))
    lines = [{"kind": "eval", "step": s, "return_mean": final * s / 100} for s in (50, 100)]
    lines.insert(1, {"kind": "episode", "step": 60, "episode_return": 1.0})
    (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def test_aggregate_sweep_directory(tmp_path: Path) -> None:
    for seed, (a, b) in enumerate([(100.0, 50.0), (80.0, 60.0), (90.0, 40.0)]):
        _run(tmp_path, "cartpole-swingup", "sac", seed, a)
        _run(tmp_path, "cartpole-swingup", "ftfl", seed, b)
        _run(tmp_path / "nested", "cheetah-run", "sac", seed, a / 10)
        _run(tmp_path / "nested", "cheetah-run", "ftfl", seed, b / 10)
    runs = load_runs(tmp_path)
    assert len(runs) == 12
    first = next(r for r in runs if (r.robot, r.algo, r.seed) == ("cartpole-swingup", "sac", 0))
    assert first.score == 100.0 and first.steps.tolist() == [50, 100] and first.curve.tolist() == [50.0, 100.0]
    result = aggregate(runs, normalize="max", reps=300)
    # Normalized by each task's best (100 and 10): sac's scores are 1.0, 0.8, 0.9 on both tasks.
    assert result["algorithms"]["sac"]["iqm"] == pytest.approx(iqm(np.array([1.0, 0.8, 0.9] * 2)))
    assert result["algorithms"]["ftfl"]["per_task"]["cheetah-run"]["mean_raw"] == pytest.approx(5.0)
    low, high = result["algorithms"]["ftfl"]["ci95"]
    assert low <= result["algorithms"]["ftfl"]["iqm"] <= high < result["algorithms"]["sac"]["ci95"][0]


def test_empty_or_missing_sweep_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AggregateError, match="no completed run"):
        load_runs(tmp_path)
    with pytest.raises(AggregateError, match="is not a directory"):
        load_runs(tmp_path / "absent")
