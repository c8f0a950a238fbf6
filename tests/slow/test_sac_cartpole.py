"""Slow: SAC learns cartpole-swingup (issue 2). Three seeds, 50k env steps each, default settings.

Run with ``make slow`` (about 30 minutes on 2 CPU cores: the seeds run side by side, one thread
each). The recorded run is in studies/sac_cartpole/ with its curves (docs/foundation.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

THRESHOLD, BUDGET, SEEDS = 600.0, 50_000, (0, 1, 2)


@pytest.mark.slow
@pytest.mark.timeout(4 * 3600)
def test_sac_reaches_600_on_cartpole_swingup_within_50k_steps(tmp_path: Path) -> None:
    common = [
        "robot=cartpole-swingup", "algo=sac", f"steps={BUDGET}", "threads=1", "progress=false",
        "eval_every=2500", "eval_episodes=5",
    ]  # fmt: skip
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "synthgate", "train", *common, f"seed={seed}", f"run_dir={tmp_path}/seed{seed}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in SEEDS
    ]
    for proc in procs:
        _, err = proc.communicate()
        assert proc.returncode == 0, err
    finals, bests = [], []
    for seed in SEEDS:
        lines = (tmp_path / f"seed{seed}" / "metrics.jsonl").read_text().splitlines()
        evals = [json.loads(ln) for ln in lines if json.loads(ln)["kind"] == "eval"]
        curve = [(e["step"], e["return_mean"]) for e in evals]
        print(f"seed {seed}: {curve}")
        bests.append(max(r for s, r in curve if s <= BUDGET))
        finals.append(curve[-1][1])
    assert all(best >= THRESHOLD for best in bests), bests
    assert sum(finals) / len(finals) >= THRESHOLD, finals
