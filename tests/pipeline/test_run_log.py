"""Every run directory has its train.log, whoever started the run (issue 21, item 8: runs made by
synthgate run had none), and synthgate train's own (Hydra's) is not written twice."""

from __future__ import annotations

import logging
from pathlib import Path

from helpers import synthgate
from kill_harness import tiny_config

from pipeline.train import train


def test_a_run_started_in_process_writes_its_train_log(tmp_path: Path) -> None:
    owner = logging.getLogger("synthgate")
    level, handlers = owner.level, list(owner.handlers)
    train(tiny_config(tmp_path / "run", steps=150))
    lines = (tmp_path / "run" / "train.log").read_text().splitlines()
    assert [line for line in lines if "[synthgate.train][INFO] - new run" in line] == [lines[0]]
    assert (owner.level, owner.handlers) == (level, handlers)  # nothing left behind


def test_synthgate_train_writes_each_line_once(tmp_path: Path) -> None:
    run = tmp_path / "run"
    done = synthgate("train", "robot=cartpole-swingup", "steps=150", "learning_starts=100", "eval_every=0",
                     "eval_episodes=1", "progress=false", "sac.hidden=16", f"run_dir={run}")  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = (run / "train.log").read_text().splitlines()
    assert len([line for line in lines if "new run" in line]) == 1, lines
