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
import hashlib
import json
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


def train_command(cfg: Any, init_from: str = "") -> str:
    """The ``synthgate train`` command that makes a run of ``cfg`` (its fields that differ from the
    defaults; ``init_from`` replaces the run's own value). A scenario found outside the package's
    library is named with the directory it was found in (``SYNTHGATE_SCENARIO_PATH=...``)."""
    from pipeline.config import TrainConfig, flat_items
    from scenarios import library

    default = flat_items(TrainConfig())
    mine = flat_items(cfg)
    if init_from:
        mine["init_from"] = init_from
    keys = [k for k, v in mine.items() if default.get(k) != v and k.split(".")[0] not in LEFT_OUT]
    values = " ".join(("" if k in default else "+") + _override(k, mine[k]) for k in keys)
    found = library.files()
    own = sorted({str(_relative(found[n].parent)) for n in cfg.scenarios
                  if not library.is_path(n) and n in found and found[n].parent != library.LIBRARY})  # fmt: skip
    env = f"{library.PATH_ENV}={':'.join(own)} " if own else ""
    return f"{env}synthgate train {values} run_dir=<run_dir>"


def _override(key: str, value: Any) -> str:
    """``key=value`` as a shell word Hydra parses: lists as ``[a,b]``, quoted with their brackets."""
    if isinstance(value, (list, tuple)):
        return f"'{key}=[{','.join(str(v) for v in value)}]'"
    return f"{key}={value}".replace(" ", "")


def _relative(path: Path) -> Path:
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def start_chain(cfg: Any) -> tuple[list[str], dict[str, Any] | None]:
    """The commands that make the policy a run started from (``init_from``), and what it was.

    A policy file with a ``manifest.json`` beside it (a shipped one, or one ``synthgate policy``
    wrote) contributes its own commands, their output renamed ``<start>``, so the chain stays
    reproducible after the shipped file is replaced; the run's command then reads
    ``init_from=<start>/policy.pt``. A run directory, or a file without a manifest, is recorded as
    given, with its sha256 where it is a file.
    """
    from pipeline import policies

    if not cfg.init_from:
        return [], None
    src = policies.shipped_path(cfg.robot) if cfg.init_from == policies.SHIPPED_NAME else Path(cfg.init_from)
    if not src.is_file():
        return [], {"given": cfg.init_from, "kind": "run directory"}
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    info: dict[str, Any] = {"given": cfg.init_from, "file": str(_relative(src)), "sha256": sha}
    manifest = src.parent / "manifest.json"
    if not manifest.is_file():
        return [], info
    prior = json.loads(manifest.read_text())
    commands = [c.replace("run_dir=<run_dir>", "run_dir=<start_run>").replace("<run_dir>", "<start_run>")
                 .replace("--out <dir>", "--out <start>") for c in prior["commands"]]  # fmt: skip
    info.update(sim_steps=int(prior.get("sim_steps", 0)), sim=prior.get("sim"))
    return commands, info


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
    parser.add_argument("--step", type=int, default=None,
                        help="take the checkpoint of this step, not the newest (the recorded command then trains "
                             "to this step: a run does not depend on its length before its end)")  # fmt: skip
    opts = parser.parse_args(list(args))
    if opts.episodes < 1:
        parser.error("--episodes must be >= 1")
    import torch

    from pipeline import policies
    from pipeline.runs import RunError, load_run

    torch.set_num_threads(1)
    try:
        run = load_run(opts.run_dir, payload=True, step=opts.step)
    except RunError as err:
        return _fail(str(err))
    cfg = run.config
    if cfg.plant != "sim" and cfg.gap != "none":
        return _fail(f"{opts.run_dir} was trained on the real plant (gap={cfg.gap}): a starting policy is trained "
                     "in the sim (synthgate train plant=sim ...), so that no real data is spent on it")  # fmt: skip
    assert run.payload is not None  # loaded with payload=True
    chain, start = start_chain(cfg)  # before writing: --out may be the very directory the run started from
    sha = policies.write(opts.out / "policy.pt", cfg, run.payload["agent"])
    scores = sim_scores(run, opts.episodes, opts.seed)
    manifest: dict[str, Any] = {
        "robot": cfg.robot,
        "commands": [
            *chain,
            train_command(dataclasses.replace(cfg, steps=run.step), "<start>/policy.pt" if chain else ""),
            f"synthgate policy <run_dir> --out <dir> --episodes {opts.episodes} --seed {opts.seed}",
        ],
        "trained_on": "the sim (plant=sim)"
        if cfg.plant == "sim"
        else "plant=real with gap=none: the sim's physics, "
        "booked as real (the same weights as plant=sim: tests/synthgate/test_sim_to_real.py)",
        "seed": cfg.seed,
        "sim_steps": run.step + (start or {}).get("sim_steps", 0),
        **({"init_from": start, "sim_steps_of_this_run": run.step} if start else {}),
        **(
            {"selection": f"the checkpoint of step {run.step} of a run of {cfg.steps} steps (--step)"}
            if run.step != cfg.steps
            else {}
        ),
        **({"randomization": {"scenarios": list(cfg.scenarios), "exposure": cfg.exposure}} if cfg.scenarios else {}),
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
