"""``synthgate policy <run_dir> --out <dir> [--episodes 100]``: a sim-trained run as a starting policy.

The run must have been trained in the sim: ``synthgate train plant=sim ...``, or a run of a plant
without a gap (``gap=none``, the default), which steps the same physics and learns the same weights
(``tests/synthgate/test_sim_to_real.py``); only the ledger's booking differs. Its newest
checkpoint's actor, critics and temperature are written as ``<dir>/policy.pt``
(``pipeline.policies``), its deterministic policy is scored on ``--episodes`` sim episodes of the
panel's held-out seeds (return, and the share of episodes the plant ended before the time limit:
falls), and ``<dir>/manifest.json`` records the commands that make the file, the seed, the sim
steps, those scores, the file's size and its sha256. ``init_from=<dir>/policy.pt`` starts a run
from it; the shipped ones live in ``pipeline/starting_policies/<robot>/`` (``init_from=shipped``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

LEFT_OUT = ("run_dir", "progress", "threads", "device", "checkpoint_every_s")
"""Fields that do not change what a run learns, left out of the recorded command."""


def _fail(message: str) -> int:
    print(f"synthgate policy: error: {message}", file=sys.stderr)
    return 2


def train_command(cfg: Any) -> str:
    """The ``synthgate train`` command that makes a run of ``cfg`` (its fields that differ from the defaults)."""
    from pipeline.config import TrainConfig, flat_items

    default = flat_items(TrainConfig())
    mine = flat_items(cfg)
    keys = [k for k, v in mine.items() if default.get(k) != v and k.split(".")[0] not in LEFT_OUT]
    values = " ".join(f"{k}={mine[k]}".replace(" ", "") for k in keys)
    return f"synthgate train {values} run_dir=<run_dir>"


def sim_scores(run: Any, episodes: int, seed: int) -> dict[str, Any]:
    """The run's deterministic policy on ``episodes`` sim episodes of the panel's held-out seeds."""
    from validation.panels import NOMINAL, PanelSpec, real_panel

    settings = dict(run.config.robot_settings)
    import robots

    steps = int(settings.pop("max_episode_steps", robots.get(run.config.robot).defaults["max_episode_steps"]))
    spec = PanelSpec(run.config.robot, (), episodes, steps, seed, min(32, episodes), settings, "none")
    results, _ = real_panel(spec, {"policy": run.actor})
    eps = results["policy"][NOMINAL]
    falls = eps.length < steps
    return {"episodes": episodes, "max_steps": steps, "panel_seed": seed,
            "return_mean": float(np.mean(eps.returns)), "return_std": float(np.std(eps.returns)),
            "fall_rate": float(np.mean(falls)), "falls": int(falls.sum())}  # fmt: skip


def main(args: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="synthgate policy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="directory for policy.pt and manifest.json")
    parser.add_argument("--episodes", type=int, default=100, help="sim episodes to score it on (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="panel seed of those episodes (default 0)")
    opts = parser.parse_args(list(args))
    if opts.episodes < 1:
        parser.error("--episodes must be >= 1")
    import torch

    from pipeline import policies
    from pipeline.runs import RunError, load_run

    torch.set_num_threads(1)
    try:
        run = load_run(opts.run_dir, payload=True)
    except RunError as err:
        return _fail(str(err))
    cfg = run.config
    if cfg.plant != "sim" and cfg.gap != "none":
        return _fail(f"{opts.run_dir} was trained on the real plant (gap={cfg.gap}): a starting policy is trained "
                     "in the sim (synthgate train plant=sim ...), so that no real data is spent on it")  # fmt: skip
    assert run.payload is not None  # loaded with payload=True
    sha = policies.write(opts.out / "policy.pt", cfg, run.payload["agent"])
    scores = sim_scores(run, opts.episodes, opts.seed)
    manifest: dict[str, Any] = {
        "robot": cfg.robot,
        "commands": [
            train_command(cfg),
            f"synthgate policy <run_dir> --out <dir> --episodes {opts.episodes} --seed {opts.seed}",
        ],
        "trained_on": "the sim (plant=sim)"
        if cfg.plant == "sim"
        else "plant=real with gap=none: the sim's physics, "
        "booked as real (the same weights as plant=sim: tests/synthgate/test_sim_to_real.py)",
        "seed": cfg.seed,
        "sim_steps": run.step,
        "sac": dataclasses.asdict(cfg.sac),
        "sim": scores,
        "file": "policy.pt",
        "bytes": (opts.out / "policy.pt").stat().st_size,
        "sha256": sha,
    }
    policies.write_manifest(opts.out / "manifest.json", manifest)
    print(f"{opts.out / 'policy.pt'}: {cfg.robot}, {run.step} sim steps, sim return {scores['return_mean']:.1f} ± "
          f"{scores['return_std']:.1f}, falls {scores['falls']} of {opts.episodes}, {manifest['bytes']} bytes, "
          f"sha256 {sha[:12]}")  # fmt: skip
    return 0
