"""A deployment run written as a LeRobot v3.0 dataset of real transitions, with provenance.

Features (the names ``synthgate train +import_datasets=[{path: ...}]`` maps by default):
``observation.state`` (what the policy saw), ``action`` (what the robot applied, after the safety
layer), ``next.observation.state``, ``next.reward`` (NaN where the robot has no reward signal),
``next.terminated``, ``next.done``, the ``provenance.*`` features of synthgate's data interchange
(source 0 = real; origin 0 = ``deploy:<bundle id>:<backend>``), and what the runtime saw:
``action.policy`` (the raw policy output), ``safety.clamped``, ``safety.rate_limited``,
``observation.age_s`` and ``runtime.loop_s``.

Beside the data, ``meta/interventions.jsonl`` holds every safety intervention (one JSON line each)
and ``meta/deploy_run.json`` the run's summary (bundle, backend, counts, timing, how it ended).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

import robots
from deploy.runtime import RunReport
from robots.lerobot_format import Episode, Feature, write_dataset

PROVENANCE_DOC = {
    "provenance.source": "0 = real (a plant or a recorded log), 1 = synthetic (the world model)",
    "provenance.origin": "index into synthgate.origins: here 'deploy:<bundle id>:<backend>'",
    "provenance.model_version": "index into synthgate.model_versions; -1 for real transitions",
    "provenance.scenario": "index into synthgate.scenarios; -1 for nominal (no scenario)",
    "provenance.seed": "the episode's reset seed on the robot backend",
    "provenance.rollout_step": "0 for real",
}


def features(robot: str) -> dict[str, Feature]:
    """The dataset's features for a robot's layout."""
    record = robots.get(robot)
    obs_names = record.layout.column_names()
    act_names = [f"a{i}" for i in range(record.action_dim)]
    f32, i64, flag = "float32", "int64", "bool"
    return {
        "observation.state": Feature(f32, (record.layout.size,), obs_names),
        "action": Feature(f32, (record.action_dim,), act_names),
        "next.observation.state": Feature(f32, (record.layout.size,), obs_names),
        "next.reward": Feature(f32, (1,)),
        "next.terminated": Feature(flag, (1,)),
        "next.done": Feature(flag, (1,)),
        "provenance.source": Feature(i64, (1,)),
        "provenance.origin": Feature(i64, (1,)),
        "provenance.model_version": Feature(i64, (1,)),
        "provenance.scenario": Feature(i64, (1,)),
        "provenance.seed": Feature(i64, (1,)),
        "provenance.rollout_step": Feature(i64, (1,)),
        "action.policy": Feature(f32, (record.action_dim,), act_names),
        "safety.clamped": Feature(flag, (1,)),
        "safety.rate_limited": Feature(flag, (1,)),
        "observation.age_s": Feature(f32, (1,)),
        "runtime.loop_s": Feature(f32, (1,)),
    }


def write_run(
    out: Path, report: RunReport, *, robot: str, origin: str, rate_hz: float, run_info: dict[str, Any]
) -> dict[str, Any]:
    """Writes the run's complete transitions as a dataset at ``out`` (must not exist).

    Returns:
        ``{"path", "episodes", "frames"}``; ``episodes`` counts only episodes with at least one frame
        (a run stopped on its first step has none, and then no dataset is written, ``path`` is None).
    """
    kept = [ep for ep in report.episodes if len(ep)]
    summary: dict[str, Any] = {"path": None, "episodes": len(kept), "frames": sum(len(ep) for ep in kept)}
    if not kept:
        return summary
    episodes = []
    for ep in kept:
        n = len(ep)
        done = np.asarray(ep.terminated, dtype=bool).reshape(n, 1).copy()
        done[-1] = True
        frames = {
            "observation.state": np.asarray(ep.obs, dtype=np.float32),
            "action": np.asarray(ep.action, dtype=np.float32),
            "next.observation.state": np.asarray(ep.next_obs, dtype=np.float32),
            "next.reward": np.asarray(ep.reward, dtype=np.float32).reshape(n, 1),
            "next.terminated": np.asarray(ep.terminated, dtype=bool).reshape(n, 1),
            "next.done": done,
            "provenance.source": np.zeros((n, 1), dtype=np.int64),
            "provenance.origin": np.zeros((n, 1), dtype=np.int64),
            "provenance.model_version": np.full((n, 1), -1, dtype=np.int64),
            "provenance.scenario": np.full((n, 1), -1, dtype=np.int64),
            "provenance.seed": np.full((n, 1), ep.seed, dtype=np.int64),
            "provenance.rollout_step": np.zeros((n, 1), dtype=np.int64),
            "action.policy": np.asarray(ep.policy_action, dtype=np.float32),
            "safety.clamped": np.asarray(ep.clamped, dtype=bool).reshape(n, 1),
            "safety.rate_limited": np.asarray(ep.rate_limited, dtype=bool).reshape(n, 1),
            "observation.age_s": np.asarray(ep.obs_age_s, dtype=np.float32).reshape(n, 1),
            "runtime.loop_s": np.asarray(ep.loop_s, dtype=np.float32).reshape(n, 1),
        }
        episodes.append(Episode(frames, f"{robot}: deployed policy ({origin})"))
    record = robots.get(robot)
    info = {
        "origins": [origin],
        "model_versions": [],
        "scenarios": [],
        "provenance_features": PROVENANCE_DOC,
        "robot": robot,
        "observation_layout": record.layout.describe(),
        "episodes_are": "deployment episodes on a robot backend, as the runtime observed them",
        "episode_ends": [ep.end for ep in kept],
        "deploy": run_info,
        "written_by": "synthgate deploy run (pyarrow)",
    }
    write_dataset(out, episodes, features(robot), fps=max(round(rate_hz), 1), robot_type=robot, synthgate_info=info)
    with open(out / "meta" / "interventions.jsonl", "w") as f:
        for event in report.events:
            f.write(json.dumps(event, default=float) + "\n")
    run = {**run_info, "status": report.status, "counts": report.counts, "timing": report.timing,
           "stop": report.stop, "episode_ends": [ep.end for ep in report.episodes]}  # fmt: skip
    (out / "meta" / "deploy_run.json").write_text(json.dumps(run, indent=2, default=float))
    summary["path"] = str(out)
    return summary
