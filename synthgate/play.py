"""``synthgate play <run_dir> [--scenario NAME] [--episodes N] [--video out.mp4 [--size WxH]]``: watch a policy.

The run's deterministic policy (its newest verified checkpoint) drives the plant, under a scenario
if one is given (a library name, a path, or a name from ``$SYNTHGATE_SCENARIO_PATH``). Each
episode prints its return, its length and, for the robot's failure predicates (the scenario's when
one is given), the first step at which one fired. ``--video`` renders every step and writes the
episodes one after the other as an mp4 (OpenCV), at the plant's control rate unless ``--fps`` says
otherwise, at ``--size`` (640 x 480 unless given).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _fail(message: str) -> int:
    print(f"synthgate play: error: {message}", file=sys.stderr)
    return 2


def parse(args: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="synthgate play", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--scenario", default=None, help="play under this scenario (name or path)")
    parser.add_argument("--gap", default=None, help="the real plant's gap profile, name or path (default: the "
                        "run's; none: the sim)")  # fmt: skip
    parser.add_argument("--episodes", type=int, default=1, help="episodes to play (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode; episode i uses seed + i")
    parser.add_argument("--max-steps", type=int, default=0, help="steps per episode (default: the run's setting)")
    parser.add_argument("--video", type=Path, default=None, help="write the episodes as this mp4")
    parser.add_argument("--fps", type=float, default=0.0, help="video frame rate (default: the plant's control rate)")
    parser.add_argument("--size", default="640x480", help="video frame size WIDTHxHEIGHT (default 640x480: a gait "
                        "can be judged at 480 pixels high, not at the 128 x 128 training renders)")  # fmt: skip
    opts = parser.parse_args(list(args))
    if opts.episodes < 1 or opts.max_steps < 0 or opts.fps < 0:
        parser.error("--episodes must be >= 1, --max-steps and --fps >= 0")
    if opts.video is not None and opts.video.suffix.lower() != ".mp4":
        parser.error(f"--video {opts.video}: give a path ending in .mp4")
    width, sep, height = opts.size.partition("x")
    if not (sep and width.isdigit() and height.isdigit() and int(width) >= 16 and int(height) >= 16):
        parser.error(f"--size {opts.size}: give WIDTHxHEIGHT in pixels, each >= 16, e.g. 640x480")
    opts.size = (int(width), int(height))
    return opts


def play(opts: argparse.Namespace) -> list[dict[str, Any]]:
    """Plays the episodes; returns one line per episode (and writes the video when asked)."""
    import torch

    import robots
    import scenarios
    from pipeline.runs import load_run
    from robots import gaps

    run = load_run(opts.run_dir)
    cfg = run.config
    settings = dict(cfg.robot_settings)
    if opts.max_steps:
        settings["max_episode_steps"] = opts.max_steps
    if opts.video is not None:
        settings["render_width"], settings["render_height"] = opts.size
    record = robots.get(cfg.robot)
    predicates = sorted(record.predicates)
    gap = gaps.get(opts.gap if opts.gap is not None else cfg.gap, cfg.robot)
    env: Any
    if opts.scenario is not None:
        scenario = scenarios.get(opts.scenario)
        if scenario.robot != cfg.robot:
            raise scenarios.ScenarioError(f"{scenario.name} is a scenario of {scenario.robot}, not of {cfg.robot}")
        env = scenario.make(seed=opts.seed, gap=gap, **settings)
        predicates = [scenario.predicate]
    else:
        env = robots.make(cfg.robot, seed=opts.seed, gap=gap, **settings)
    fails = {name: record.predicate(name) for name in predicates}
    writer = None
    lines = []
    try:
        for i in range(opts.episodes):
            obs, _ = env.reset(seed=opts.seed + i)
            total, steps, failed_at, done = 0.0, 0, None, False
            while not done:
                if opts.video is not None:
                    writer = _write(writer, np.asarray(env.render()), opts, env)
                with torch.no_grad():
                    act = run.actor.deterministic(torch.as_tensor(obs, dtype=torch.float32)[None])[0].numpy()
                obs, reward, terminated, truncated, _ = env.step(act)
                total, steps, done = total + float(reward), steps + 1, terminated or truncated
                if failed_at is None:
                    fired = [n for n, fn in fails.items() if bool(np.asarray(fn(obs[None]))[0])]
                    failed_at = (steps, fired) if fired else None
            if opts.video is not None:
                writer = _write(writer, np.asarray(env.render()), opts, env)
            lines.append({"episode": i, "seed": opts.seed + i, "return": total, "steps": steps, "failed": failed_at})
    finally:
        env.close()
        if writer is not None:
            writer.release()
    return lines


def _write(writer: Any, frame: np.ndarray, opts: argparse.Namespace, env: Any) -> Any:
    import cv2

    if writer is None:
        fps = opts.fps or float(env.metadata.get("render_fps", 30))
        opts.video.parent.mkdir(parents=True, exist_ok=True)
        fourcc = cv2.VideoWriter_fourcc(*"mp4v")  # type: ignore[attr-defined]
        writer = cv2.VideoWriter(str(opts.video), fourcc, fps, (frame.shape[1], frame.shape[0]))
        if not writer.isOpened():
            raise OSError(f"OpenCV cannot write {opts.video}")
    writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return writer


def main(args: Sequence[str]) -> int:
    from pipeline.runs import RunError
    from robots.spec import SpecError

    opts = parse(args)
    try:
        lines = play(opts)
    except (RunError, SpecError, OSError) as err:  # SpecError: a scenario or gap profile that does not load
        return _fail(str(err))
    where = (f" under {opts.scenario}" if opts.scenario else "") + (f", gap {opts.gap}" if opts.gap else "")
    print(f"{opts.run_dir}: {len(lines)} episode(s){where}")
    for line in lines:
        failed = f"{', '.join(line['failed'][1])} at step {line['failed'][0]}" if line["failed"] else "no failure"
        print(f"  episode {line['episode']} (seed {line['seed']}): return {line['return']:.1f}, "
              f"{line['steps']} steps, {failed}")  # fmt: skip
    if opts.video is not None:
        print(f"video: {opts.video} ({sum(line['steps'] + 1 for line in lines)} frames)")
    return 0
