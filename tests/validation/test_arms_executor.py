"""Training arms on an executor: a pool of processes trains the same runs as this process does,
number for number, because every run's streams come from its own config."""

from __future__ import annotations

import json
from pathlib import Path

import helpers as sft

import synthgate.cli  # noqa: F401 - registers the train schema that compose_arms composes against
from pipeline.executor import LocalExecutor
from synthgate.validation_cli import compose_arms, load_scenarios
from validation.arms import ArmsConfig, train_arms

TRAIN = [
    "progress=false", "learning_starts=100", "eval_every=0", "eval_episodes=2", "log_every=100",
    "checkpoint_every=200", "sac.hidden=16", "+robot_settings.max_episode_steps=50",
]  # fmt: skip


def _summaries(out: Path, workers: int) -> dict[str, dict]:
    cfg = ArmsConfig(robot="Hopper-v5", scenarios=[sft.PAYLOAD], steps=250, seeds=[0, 1], out=str(out))
    configs = compose_arms(cfg, ("real_only",), TRAIN, "test")
    logged: list[str] = []
    train_arms(configs, load_scenarios(cfg.scenarios, cfg.robot, "test"), log=logged.append,
               executor=LocalExecutor(workers=workers) if workers > 1 else None)  # fmt: skip
    assert len([line for line in logged if "eval return" in line]) == 2, logged
    runs = sorted((out / "runs").iterdir())
    return {p.name: json.loads((p / "summary.json").read_text()) for p in runs}


def test_a_process_pool_trains_the_same_runs_as_this_process(tmp_path: Path) -> None:
    here = _summaries(tmp_path / "here", workers=1)
    pool = _summaries(tmp_path / "pool", workers=2)
    assert set(here) == set(pool) == {"real_only-s0", "real_only-s1"}
    for name in here:
        for key in ("steps", "eval_return_mean", "ledger"):
            assert here[name][key] == pool[name][key], (name, key)
    assert here["real_only-s0"]["eval_return_mean"] != here["real_only-s1"]["eval_return_mean"]  # seeds differ
