"""Aggregate a sweep's runs as rliable does (Agarwal et al., 2021): the interquartile mean (IQM)
of final scores with stratified-bootstrap confidence intervals, per algorithm, and curves.

A sweep directory holds run directories (any depth) with ``summary.json`` and ``metrics.jsonl``
as ``synthgate train`` writes them. Scores are each run's final evaluation return; tasks are robots.

- IQM: the mean of the middle 50% of all (task, seed) scores of an algorithm, pooled — each task's
  scores are first divided by the task's normalizer (``--normalize``: ``none`` keeps raw returns,
  which only makes sense for one task; ``max`` divides by the best final return any algorithm
  reached on that task) so tasks with large returns do not dominate.
- Stratified bootstrap: resample seeds with replacement within each task (the strata), recompute the
  IQM, ``reps`` times; the CI is the percentile interval of those IQMs.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats


class AggregateError(ValueError):
    """A sweep directory cannot be aggregated; the message says which path and why."""


@dataclass(frozen=True)
class RunScore:
    """One run's final score and its curve."""

    run_dir: str
    robot: str
    algo: str
    seed: int
    score: float
    steps: np.ndarray
    curve: np.ndarray


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean: the mean after cutting 25% of the scores from each end."""
    return float(stats.trim_mean(np.asarray(scores, dtype=float).ravel(), 0.25))


def stratified_bootstrap_ci(
    by_task: list[np.ndarray], reps: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile CI of the IQM when seeds are resampled with replacement within each task."""
    rng = np.random.default_rng(seed)
    values = np.empty(reps)
    for r in range(reps):
        values[r] = iqm(np.concatenate([t[rng.integers(0, len(t), len(t))] for t in by_task]))
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high)


def load_runs(sweep_dir: Path) -> list[RunScore]:
    """Every completed run under ``sweep_dir`` (a run is complete when it wrote ``summary.json``)."""
    if not sweep_dir.is_dir():
        raise AggregateError(f"{sweep_dir} is not a directory")
    runs = []
    for summary_path in sorted(sweep_dir.rglob("summary.json")):
        run = summary_path.parent
        try:
            summary = json.loads(summary_path.read_text())
            lines = (run / "metrics.jsonl").read_text().splitlines()
        except (OSError, json.JSONDecodeError) as err:
            raise AggregateError(f"{run}: cannot read summary.json / metrics.jsonl: {err}") from None
        evals = [json.loads(ln) for ln in lines if ln.strip()]
        evals = [e for e in evals if e.get("kind") == "eval"]
        runs.append(
            RunScore(
                run_dir=str(run), robot=summary["robot"], algo=summary["algo"], seed=int(summary["seed"]),
                score=float(summary["eval_return_mean"]), steps=np.array([e["step"] for e in evals]),
                curve=np.array([e["return_mean"] for e in evals]),
            )
        )  # fmt: skip
    if not runs:
        raise AggregateError(f"{sweep_dir} holds no completed run (no summary.json below it)")
    return runs


def aggregate(runs: list[RunScore], normalize: str = "max", reps: int = 2000, seed: int = 0) -> dict[str, Any]:
    """IQM and stratified-bootstrap 95% CI per algorithm, with the per-task raw figures beside them."""
    if normalize not in ("none", "max"):
        raise AggregateError(f"normalize={normalize!r}; valid: none, max")
    tasks = sorted({r.robot for r in runs})
    algos = sorted({r.algo for r in runs})
    scale = {t: 1.0 for t in tasks}
    if normalize == "max":
        for t in tasks:
            best = max(abs(r.score) for r in runs if r.robot == t)
            scale[t] = best if best > 0 else 1.0
    out: dict[str, Any] = {"normalize": normalize, "tasks": tasks, "bootstrap_reps": reps, "algorithms": {}}
    for algo in algos:
        by_task: dict[str, list[float]] = defaultdict(list)
        for r in runs:
            if r.algo == algo:
                by_task[r.robot].append(r.score / scale[r.robot])
        strata = [np.asarray(v) for v in by_task.values()]
        low, high = stratified_bootstrap_ci(strata, reps=reps, seed=seed)
        out["algorithms"][algo] = {
            "iqm": iqm(np.concatenate(strata)),
            "ci95": [low, high],
            "runs": int(sum(len(s) for s in strata)),
            "per_task": {
                t: {"seeds": len(v), "mean_raw": float(np.mean(v) * scale[t]), "scores_raw": [x * scale[t] for x in v]}
                for t, v in sorted(by_task.items())
            },
        }
    return out


def plot(runs: list[RunScore], result: dict[str, Any], path: Path) -> None:
    """IQM bars with CIs, and mean learning curves per task and algorithm, into one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = result["tasks"]
    algos = sorted(result["algorithms"])
    fig, axes = plt.subplots(1, 1 + len(tasks), figsize=(4 * (1 + len(tasks)), 3.2), squeeze=False)
    ax = axes[0, 0]
    iqms = [result["algorithms"][a]["iqm"] for a in algos]
    errs = np.array([[v - result["algorithms"][a]["ci95"][0], result["algorithms"][a]["ci95"][1] - v]
                     for a, v in zip(algos, iqms, strict=True)]).T  # fmt: skip
    ax.barh(algos, iqms, xerr=errs, color="tab:blue", alpha=0.7)
    ax.set_xlabel(f"IQM of final return ({result['normalize']}-normalized), 95% CI")
    for j, task in enumerate(tasks, start=1):
        ax = axes[0, j]
        for algo in algos:
            curves = [r for r in runs if r.robot == task and r.algo == algo and len(r.curve)]
            if not curves:
                continue
            n = min(len(r.curve) for r in curves)
            mean = np.mean([r.curve[:n] for r in curves], axis=0)
            ax.plot(curves[0].steps[:n], mean, label=f"{algo} ({len(curves)})")
        ax.set_title(task)
        ax.set_xlabel("env steps")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def format_table(result: dict[str, Any]) -> str:
    """A markdown table of the aggregate."""
    lines = [
        f"| algorithm | runs | IQM ({result['normalize']}-normalized) | 95% CI (stratified bootstrap) "
        "| per task: mean raw return (seeds) |",
        "|---|---|---|---|---|",
    ]
    for algo, a in sorted(result["algorithms"].items()):
        tasks = "; ".join(f"{t} {v['mean_raw']:.1f} ({v['seeds']})" for t, v in a["per_task"].items())
        lines.append(f"| {algo} | {a['runs']} | {a['iqm']:.3f} | [{a['ci95'][0]:.3f}, {a['ci95'][1]:.3f}] | {tasks} |")
    return "\n".join(lines)
