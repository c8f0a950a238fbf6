"""Real exposure: training episodes under scenario perturbations, ledgered per scenario, resumed exactly."""

from __future__ import annotations

from pathlib import Path

import torch
from helpers import synthgate

from pipeline import checkpoint

COMMON = [
    "robot=walker-walk", "algo=sac", "seed=4", "learning_starts=200", "eval_every=0", "eval_episodes=1",
    "progress=false", "threads=1", "sac.hidden=32", "checkpoint_every=300", "+robot_settings.max_episode_steps=70",
    "scenarios=[push_recovery,slippery_floor]", "exposure=0.6",
]  # fmt: skip


def test_exposure_is_ledgered_per_scenario_and_resumes_exactly(tmp_path: Path) -> None:
    whole = synthgate("train", *COMMON, "steps=700", f"run_dir={tmp_path}/whole")
    assert whole.returncode == 0, whole.stderr
    table = synthgate("ledger", str(tmp_path / "whole")).stdout
    assert "real:walker-walk/plant:slippery_floor:" in table or "real:walker-walk/plant:push_recovery:" in table
    assert "real:walker-walk/plant:" in table
    counts = {line.split(": ")[0].strip(): int(line.split(": ")[-1]) for line in table.splitlines() if "real:" in line}
    assert sum(counts.values()) == 700 and len(counts) >= 2

    assert synthgate("train", *COMMON, "steps=300", f"run_dir={tmp_path}/split").returncode == 0  # stops mid-episode
    resumed = synthgate("train", *COMMON, "steps=700", f"run_dir={tmp_path}/split")
    assert resumed.returncode == 0, resumed.stderr
    a = checkpoint.load_latest(tmp_path / "whole" / "checkpoints")
    b = checkpoint.load_latest(tmp_path / "split" / "checkpoints")
    assert a is not None and b is not None
    for name in ("obs", "act", "rew", "next_obs", "origin"):
        torch.testing.assert_close(a[1]["buffer"][name], b[1]["buffer"][name], rtol=0, atol=0)
    assert a[1]["buffer"]["origins"] == b[1]["buffer"]["origins"]


def test_scenario_errors_are_named(tmp_path: Path) -> None:
    wrong_robot = synthgate("train", "robot=cheetah-run", "scenarios=[push_recovery]", "exposure=0.5", "steps=10",
                            f"run_dir={tmp_path}/a")  # fmt: skip
    assert wrong_robot.returncode == 2 and "push_recovery is a scenario of walker-walk" in wrong_robot.stderr
    unknown = synthgate("train", "robot=walker-walk", "scenarios=[meteor]", "exposure=0.5", "steps=10",
                        f"run_dir={tmp_path}/b")  # fmt: skip
    assert unknown.returncode == 2 and "unknown scenario 'meteor'" in unknown.stderr
    listing = synthgate("scenarios").stdout
    assert "push_recovery" in listing and "object_drop_risk" in listing
