"""Crash safety end to end: runs killed with SIGKILL at seeded random points (mid-update, mid-model
retrain, mid-rollout, mid-checkpoint write, mid-log line, or at a random moment from outside) and
resumed with the same command end exactly like an uninterrupted run (issue 8)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import synthgate
from kill_harness import SITES, assert_same_run, run_with_kills

# A tiny model-based run, so the world model, its optimizer and the synthetic buffer are covered.
TINY_FTFL = [
    "robot=cartpole-swingup", "algo=ftfl", "steps=600", "seed=5", "learning_starts=200", "checkpoint_every=100",
    "log_every=50", "eval_every=300", "eval_episodes=1", "progress=false", "threads=1", "sac.hidden=16",
    "sac.batch_size=32", "+robot_settings.max_episode_steps=100", "algo.utd=1", "algo.retrain_every=100",
    "algo.rollouts_per_step=2", "algo.model.members=3", "algo.model.elites=2", "algo.model.hidden=16",
    "algo.model.depth=1", "algo.model.weight_decay=[0,0]", "algo.model.max_epochs=3", "algo.model.batch_size=64",
    "kstep=[1,2]",
]  # fmt: skip
TINY_CFG = {"steps": 600, "checkpoint_every": 100, "log_every": 50, "learning_starts": 200, "utd": 1,
            "step_s": 0.002}  # fmt: skip


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("ref") / "run"
    done = synthgate("train", *TINY_FTFL, f"run_dir={run_dir}")
    assert done.returncode == 0, done.stderr
    return run_dir


def test_three_kills_mid_checkpoint_mid_ledger_line_mid_model_resume_exactly(reference: Path, tmp_path: Path) -> None:
    # Fixed points (the slow test draws them at random): a kill while checkpoint 300 is half
    # written (resume from 200, after the first model retrain); half of the ledger line of step 350
    # (resume from 300); mid-retrain at step 400 (resume from 300 again). Every resume restores a
    # trained world model, its optimizer and a synthetic buffer.
    run_dir = tmp_path / "killed"
    plan = [("checkpoint_tmp", 3), ("ledger_line", 5), ("model_fit", 5)]
    report = run_with_kills(TINY_FTFL, run_dir, kills=3, seed=0, sites=(), cfg=TINY_CFG, plan=plan)
    assert [(k.site, k.killed) for k in report.kills] == [(site, True) for site, _ in plan], report
    assert [k.resumed_from for k in report.kills] == [0, 200, 300], report
    assert_same_run(run_dir, reference)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # 25 sessions: 180 s on a quiet 2-core host, 654 s beside two study runs
def test_twenty_four_random_kills_resume_exactly(reference: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "killed"
    sites = (*SITES, "external")
    report = run_with_kills(TINY_FTFL, run_dir, kills=24, seed=7, sites=sites, cfg=TINY_CFG, cover_all=True)
    landed = [f"{k.site}@{k.count}{f'+{k.delay_s:.2f}s' if k.site == 'external' else ''}<-{k.resumed_from}"
              for k in report.kills if k.killed]  # fmt: skip
    print(f"{report.n_killed} kills landed in {report.sessions} sessions: {', '.join(landed)}")
    assert report.n_killed >= 20, report
    assert len({k.site for k in report.kills if k.killed}) >= len(sites) - 1, report  # an external kill may miss
    assert_same_run(run_dir, reference)
