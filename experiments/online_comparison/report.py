"""Curves and final-return table of an online comparison (experiments/online_comparison/run.sh).

Usage: python experiments/online_comparison/report.py <out_dir>/<robot>
Writes curves.png in that directory and prints a markdown table: per algorithm, the mean final
evaluation return over seeds with a 95% t-interval, and each seed's value.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from scipy import stats


def curve(run: Path) -> tuple[np.ndarray, np.ndarray]:
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [e for e in evals if e["kind"] == "eval"]
    return np.array([e["step"] for e in evals]), np.array([e["return_mean"] for e in evals])


def main(root: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    print("| algo | seeds | final eval return, mean [95% CI] | per seed |")
    print("|---|---|---|---|")
    for algo_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        curves = [curve(seed) for seed in sorted(algo_dir.iterdir()) if (seed / "metrics.jsonl").exists()]
        if not curves:
            continue
        finals = np.array([c[1][-1] for c in curves])
        half = (
            stats.t.ppf(0.975, len(finals) - 1) * finals.std(ddof=1) / np.sqrt(len(finals))
            if len(finals) > 1
            else np.nan
        )
        print(f"| {algo_dir.name} | {len(finals)} | {finals.mean():.1f} [{finals.mean() - half:.1f}, "
              f"{finals.mean() + half:.1f}] | {', '.join(f'{v:.1f}' for v in finals)} |")  # fmt: skip
        n = min(len(c[0]) for c in curves)
        mean = np.mean([c[1][:n] for c in curves], axis=0)
        ax.plot(curves[0][0][:n], mean, label=f"{algo_dir.name} (mean of {len(curves)})")
    ax.set(xlabel="env steps", ylabel="eval return", title=root.name)
    ax.legend()
    fig.tight_layout()
    fig.savefig(root / "curves.png", dpi=110)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
