"""Real transitions store their perturbation context; a resumed run stores the same."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from helpers import synthgate

import robots
from pipeline import checkpoint

COMMON = [
    "robot=walker-walk", "algo=sac", "seed=4", "learning_starts=150", "eval_every=0", "eval_episodes=1",
    "progress=false", "threads=1", "sac.hidden=32", "checkpoint_every=250", "+robot_settings.max_episode_steps=60",
    "scenarios=[slippery_floor,weak_knee]", "exposure=0.7", "context=true", "critic_context=true",
]  # fmt: skip


def test_real_context_is_stored_per_scenario_and_resumed(tmp_path: Path) -> None:
    whole = synthgate("train", *COMMON, "steps=480", f"run_dir={tmp_path}/whole")
    assert whole.returncode == 0, whole.stderr
    found = checkpoint.load_latest(tmp_path / "whole" / "checkpoints")
    assert found is not None
    buf = found[1]["buffer"]
    layout = robots.context_layout("walker-walk")
    ctx, origins = buf["ctx"].numpy(), [buf["origins"][i] for i in buf["origin"].tolist()]
    assert ctx.shape == (480, layout.size)
    friction, knee = ctx[:, layout.index("friction_scale")], ctx[:, layout.index("actuator_scale.right_knee")]
    slippery = np.array([o.endswith(":slippery_floor") for o in origins])
    weak = np.array([o.endswith(":weak_knee") for o in origins])
    assert slippery.any() and weak.any() and (~slippery & ~weak).any()
    # slippery_floor draws a scale in [0.1, 0.3], weak_knee in [0.2, 0.5]; nominal rows are exactly 0
    assert ((friction[slippery] >= -0.9 - 1e-6) & (friction[slippery] <= -0.7 + 1e-6)).all()
    assert ((knee[weak] >= -0.8 - 1e-6) & (knee[weak] <= -0.5 + 1e-6)).all()
    assert not ctx[~slippery & ~weak].any()
    assert np.count_nonzero(ctx[slippery], axis=1).max() == 1

    assert synthgate("train", *COMMON, "steps=250", f"run_dir={tmp_path}/split").returncode == 0
    resumed = synthgate("train", *COMMON, "steps=480", f"run_dir={tmp_path}/split")
    assert resumed.returncode == 0, resumed.stderr
    again = checkpoint.load_latest(tmp_path / "split" / "checkpoints")
    assert again is not None
    for name in ("obs", "ctx", "origin"):
        torch.testing.assert_close(again[1]["buffer"][name], buf[name], rtol=0, atol=0)


def test_critic_context_needs_context(tmp_path: Path) -> None:
    out = synthgate("train", "critic_context=true", "steps=10", f"run_dir={tmp_path}/a")
    assert out.returncode == 2 and "critic_context=true needs context=true" in out.stderr


def test_a_run_shorter_than_learning_starts_warns_how_to_fix_it(tmp_path: Path) -> None:
    # issue 21, item 3: steps <= learning_starts trained nothing and said only "0 updates"
    out = synthgate("train", "steps=10", "learning_starts=20", f"run_dir={tmp_path}/a")
    assert out.returncode == 0
    assert "steps=10 <= learning_starts=20" in out.stdout and "e.g. learning_starts=2" in out.stdout
    fine = synthgate("train", "steps=30", "learning_starts=20", f"run_dir={tmp_path}/b")
    assert fine.returncode == 0 and "trains nothing" not in fine.stdout


def test_train_defaults_to_one_torch_thread() -> None:
    # issue 21, item 2: threads=0 (torch's default: every core) was 2.2-2.4x slower on a shared 2-core machine
    from pipeline.config import TrainConfig

    assert TrainConfig().threads == 1
    out = synthgate("train", "--help")
    assert out.returncode == 0 and "\n  threads=1 " in out.stdout
