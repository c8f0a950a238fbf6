"""SIGINT and SIGTERM stop a run cleanly: the current step is finished and checkpointed, resuming
is exact, and the command line exits with one line, no traceback (issue 21, item 4). Checkpoints
also follow a wall-clock cadence."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from kill_harness import assert_same_run, tiny_config

import pipeline.train as train_module
from pipeline import checkpoint
from pipeline.train import Interrupted, train


def _steps(run_dir: Path) -> list[int]:
    return [int(p.stem.split("-")[1]) for p in checkpoint.list_checkpoints(run_dir / "checkpoints")]


def _signal_at(monkeypatch: pytest.MonkeyPatch, step: int, signum: int) -> None:
    """Sends ``signum`` to this process while env step ``step`` is being collected."""
    original = train_module.collect_real_step

    def collect(state: Any, *args: Any, **kw: Any) -> Any:
        out = original(state, *args, **kw)
        if state.step == step:
            signal.raise_signal(signum)
        return out

    monkeypatch.setattr(train_module, "collect_real_step", collect)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_checkpoints_the_current_step_and_the_resume_is_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signum: int
) -> None:
    cfg = dict(steps=400, checkpoint_every=10_000, eval_every=200)  # no scheduled checkpoint before the end
    reference = tmp_path / "reference"
    train(tiny_config(reference, **cfg))
    run_dir = tmp_path / "stopped"
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))  # SIG_IGN when run in the background
    _signal_at(monkeypatch, 250, signum)
    with pytest.raises(Interrupted) as info:
        train(tiny_config(run_dir, **cfg))
    assert (info.value.signum, info.value.step) == (signum, 250)
    assert info.value.checkpoints == [run_dir / "checkpoints" / "ckpt-000000250.pt"]
    assert _steps(run_dir) == [250]  # without the signal, nothing would have been saved before step 400
    assert not (run_dir / "summary.json").exists()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before  # the handlers are put back
    monkeypatch.undo()
    train(tiny_config(run_dir, **cfg))
    assert_same_run(run_dir, reference)


def test_checkpoints_also_follow_the_wall_clock(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    # every step is past a 1 microsecond cadence: each one is checkpointed, the newest two kept
    train(tiny_config(run_dir, steps=150, checkpoint_every=10_000, checkpoint_every_s=1e-6))
    assert _steps(run_dir) == [149, 150]
    off = tmp_path / "off"
    train(tiny_config(off, steps=150, checkpoint_every=10_000, checkpoint_every_s=0.0))
    assert _steps(off) == [150]


def test_ctrl_c_on_the_command_line_prints_one_line_and_the_run_resumes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    args = [sys.executable, "-m", "synthgate", "train", "robot=cartpole-swingup", "algo=sac", "steps=3000",
            "learning_starts=100", "checkpoint_every=100000", "log_every=50", "eval_every=0", "eval_episodes=1",
            "progress=false", "threads=1", "sac.hidden=16", "sac.batch_size=32", f"run_dir={run_dir}"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (run_dir / "metrics.jsonl").exists() or not (run_dir / "metrics.jsonl").read_text().strip():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    (line,) = [e for e in err.splitlines() if e.startswith("synthgate train:")]
    assert "stopped: SIGINT at step" in line and "run the same command to resume" in line
    (stopped_at,) = _steps(run_dir)
    assert 50 <= stopped_at < 3000
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "3000 env steps" in done.stdout
    assert _steps(run_dir) == [stopped_at, 3000]  # resumed from the stop's checkpoint (keep_checkpoints=2)
