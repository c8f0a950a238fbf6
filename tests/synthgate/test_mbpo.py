"""Model-based presets end to end: smoke runs of ftfl and mbpo, the ledger against the buffers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import books_and_buffers, synthgate

SMALL = [
    "robot=cartpole-swingup", "seed=1", "learning_starts=500", "eval_every=0", "eval_episodes=1", "log_every=250",
    "progress=false", "threads=1", "checkpoint_every=500", "sac.hidden=64", "algo.utd=4", "algo.retrain_every=250",
    "algo.rollouts_per_step=40", "algo.model.hidden=64", "algo.model.depth=2",
    "algo.model.weight_decay=[2.5e-5,5e-5,1e-4]", "algo.model.max_epochs=15", "+robot_settings.max_episode_steps=250",
]  # fmt: skip


def _books_match_buffers(run_dir: Path) -> dict[str, Any]:
    payload, held, contents = books_and_buffers(run_dir)
    assert held == contents
    return payload


@pytest.mark.parametrize("algo", ["ftfl", "mbpo"])
def test_smoke_run_and_ledger_equals_buffers_after_run_and_resume(algo: str, tmp_path: Path) -> None:
    run_dir = tmp_path / algo
    first = synthgate("train", f"algo={algo}", *SMALL, "steps=1500", f"run_dir={run_dir}")
    assert first.returncode == 0, first.stderr
    payload = _books_match_buffers(run_dir)
    assert payload["step"] == 1500 and payload["sources"]["model"]["retrains"] == 5  # at 500, 750, 1000, 1250, 1500
    events = [json.loads(line) for line in (run_dir / "ledger.jsonl").read_text().splitlines()]
    retrains = [e for e in events if e["kind"] == "retrain"]
    assert len(retrains) == 5 and all("diag/reward_r2" in e and "diag/model_error_pct_k10" in e for e in retrains)
    rollouts = [e for e in events if e["kind"] == "rollout"]
    assert all(e["starts"] == 40 * 250 for e in rollouts)
    assert all(e["kept"] + e["dropped_nonfinite"] + e["dropped_out_of_range"] >= e["starts"] for e in rollouts)

    # resume: extend the same run; the books still equal the buffers
    second = synthgate("train", f"algo={algo}", *SMALL, "steps=2000", f"run_dir={run_dir}")
    assert second.returncode == 0, second.stderr
    assert "at step 1500" in second.stdout + second.stderr
    payload = _books_match_buffers(run_dir)
    assert payload["step"] == 2000

    table = synthgate("ledger", str(run_dir))
    assert table.returncode == 0
    assert "real anchor: OK" in table.stdout
    real_line = next(line for line in table.stdout.splitlines() if line.startswith("real "))
    assert real_line.split()[1:3] == ["2000", "2000"]  # generated and held real transitions
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["ledger"]["synthetic_share_mean_per_batch"] == pytest.approx(1 - 13 / 256, abs=0.01)


def test_ledger_command_errors(tmp_path: Path) -> None:
    missing = synthgate("ledger", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
