"""synthgate play: the run's policy on the plant, under a scenario, as a playable mp4 (issue 21, item 9)."""

from __future__ import annotations

from pathlib import Path

import cv2
from helpers import synthgate

TINY = [
    "robot=walker-walk", "algo=sac", "steps=300", "seed=1", "learning_starts=200", "eval_every=0", "eval_episodes=1",
    "progress=false", "threads=1", "sac.hidden=32", "+robot_settings.max_episode_steps=60",
    "+robot_settings.render_width=64", "+robot_settings.render_height=48",
]  # fmt: skip


def test_play_writes_a_playable_mp4_and_reports_each_episode(tmp_path: Path) -> None:
    run = tmp_path / "run"
    trained = synthgate("train", *TINY, f"run_dir={run}")
    assert trained.returncode == 0, trained.stderr
    video = tmp_path / "out" / "play.mp4"
    played = synthgate("play", str(run), "--scenario", "push_recovery", "--episodes", "2", "--max-steps", "40",
                       "--video", str(video), "--size", "64x48")  # fmt: skip
    assert played.returncode == 0, played.stderr
    assert f"{run}: 2 episode(s) under push_recovery" in played.stdout
    lines = [line for line in played.stdout.splitlines() if line.startswith("  episode")]
    assert [line.split(":")[0] for line in lines] == ["  episode 0 (seed 0)", "  episode 1 (seed 1)"]
    assert all(", 40 steps, " in line for line in lines), lines
    capture = cv2.VideoCapture(str(video))
    assert capture.isOpened()
    frames = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        assert frame.shape == (48, 64, 3)
        frames += 1
    assert frames == 2 * 41  # every step's frame and the last state's, per episode
    again = synthgate("play", str(run), "--scenario", "push_recovery", "--episodes", "2", "--max-steps", "40")
    assert [line for line in again.stdout.splitlines() if line.startswith("  episode")] == lines  # deterministic

    default = synthgate("play", str(run), "--max-steps", "3", "--video", str(tmp_path / "big.mp4"))
    assert default.returncode == 0, default.stderr
    ok, frame = cv2.VideoCapture(str(tmp_path / "big.mp4")).read()
    assert ok and frame.shape == (480, 640, 3)  # issue 34: 128 x 128 was too small to judge a gait
    bad = synthgate("play", str(run), "--video", str(tmp_path / "y.mp4"), "--size", "640")
    assert bad.returncode == 2 and "--size 640: give WIDTHxHEIGHT" in bad.stderr

    wrong = synthgate("play", str(run), "--scenario", "hopper_heavy_torso")
    assert wrong.returncode == 2 and "hopper_heavy_torso is a scenario of Hopper-v5, not of walker-walk" in wrong.stderr
    avi = synthgate("play", str(run), "--video", str(tmp_path / "x.avi"))
    assert avi.returncode == 2 and "ending in .mp4" in avi.stderr
