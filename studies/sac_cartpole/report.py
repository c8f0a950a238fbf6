"""Learning curves and a table from the SAC cartpole-swingup runs (issue 2's learning check).

Usage: python studies/sac_cartpole/report.py <runs_dir> [<runs_dir> ...]
Each runs_dir holds seed*/ run directories made by studies/sac_cartpole/run.sh. Writes
docs/img/sac_cartpole_curves.png and prints a markdown table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import yaml

THRESHOLD = 600.0
BUDGET_PLANT_STEPS = 50_000


def load(run: Path) -> tuple[int, np.ndarray, np.ndarray]:
    """(action_repeat, plant steps, eval return means) of one run directory."""
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    repeat = int(cfg.get("robot_settings", {}).get("action_repeat", 1))
    evals = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [e for e in evals if e["kind"] == "eval"]
    steps = np.array([e["step"] * repeat for e in evals])
    means = np.array([e["return_mean"] for e in evals])
    return repeat, steps, means


def main(dirs: list[Path]) -> None:
    fig, axes = plt.subplots(1, len(dirs), figsize=(5.5 * len(dirs), 3.6), squeeze=False)
    print("| setting | seed | first plant step with eval ≥ 600 | eval at 50k plant steps | best eval ≤ 50k |")
    print("|---|---|---|---|---|")
    for ax, runs in zip(axes[0], dirs, strict=True):
        curves = []
        repeat = 1
        for seed_dir in sorted(p for p in runs.iterdir() if p.is_dir()):
            repeat, steps, means = load(seed_dir)
            within = steps <= BUDGET_PLANT_STEPS
            hit = steps[within & (means >= THRESHOLD)]
            at_budget = means[steps == BUDGET_PLANT_STEPS]
            print(
                f"| action_repeat={repeat} | {seed_dir.name} | {hit[0] if len(hit) else 'not reached'} | "
                f"{at_budget[0] if len(at_budget) else float('nan'):.1f} | {means[within].max():.1f} |"
            )
            ax.plot(steps, means, alpha=0.5, label=seed_dir.name)
            curves.append((steps, means))
        common = min(len(s) for s, _ in curves)
        mean_curve = np.mean([m[:common] for _, m in curves], axis=0)
        ax.plot(curves[0][0][:common], mean_curve, color="k", lw=2, label="mean")
        at = curves[0][0][:common] == BUDGET_PLANT_STEPS
        if at.any():
            print(f"| action_repeat={repeat} | mean of {len(curves)} | | {mean_curve[at][0]:.1f} | |")
        ax.axhline(THRESHOLD, ls="--", color="gray")
        ax.axvline(BUDGET_PLANT_STEPS, ls=":", color="gray")
        ax.set(title=f"SAC cartpole-swingup, action_repeat={repeat}", xlabel="plant steps", ylabel="eval return")
        ax.legend(fontsize=7)
    fig.tight_layout()
    out = Path(__file__).resolve().parents[2] / "docs" / "img" / "sac_cartpole_curves.png"
    fig.savefig(out, dpi=110)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main([Path(a) for a in sys.argv[1:]])
