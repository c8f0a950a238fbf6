"""Starting policies: a SAC agent trained in the sim, written as one small file, and read back to
start a run on the real plant (``init_from``; docs/sim_to_real.md).

A policy file (``torch.save`` of a dict, format :data:`FORMAT`) holds the actor, the twin critics
and the log-temperature in float32, with what they fit: the robot, its observation layout (field
names and sizes) and action size, and the SAC network shape. The target critics are not stored:
a run started from the file sets them equal to the critics (at the end of training they trail the
critics by Polyak averaging at ``tau``, about 1/tau updates). SAC here has no observation
normalizer, so there is none to carry. Optimizer moments are not carried either: fine-tuning
starts Adam afresh.

``init_from`` may also name a run directory: its newest checkpoint's agent, target critics
included. Either way the replay buffer starts **empty**: what the sim produced is not real data,
and a fine-tuning run's budget is its own real transitions.

A file that does not fit the run is refused in one line (another robot, another observation
layout, another network shape).
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import torch
import yaml

import robots
from pipeline import checkpoint
from pipeline.config import ConfigError, TrainConfig
from pipeline.sac import SACState

FORMAT = "synthgate-policy/1"
SHIPPED = Path(__file__).parent / "starting_policies"
"""The shipped sim-trained policies: ``<robot>/policy.pt`` with ``<robot>/manifest.json`` beside it."""
SHIPPED_NAME = "shipped"
"""``init_from=shipped``: the shipped policy of the run's robot."""


def layout_of(robot: str) -> list[list[Any]]:
    """A robot's observation layout as ``[[field, size], ...]``: what a policy's input means."""
    return [[f.name, f.size] for f in robots.get(robot).layout.fields]


def net_shape(cfg: TrainConfig) -> dict[str, Any]:
    """The SAC settings a policy's weights depend on."""
    return {k: getattr(cfg.sac, k) for k in ("hidden", "depth", "log_std_min", "log_std_max")}


def shipped_path(robot: str) -> Path:
    """Where the shipped policy of ``robot`` is (it may not exist)."""
    return SHIPPED / robot / "policy.pt"


def write(path: Path, cfg: TrainConfig, agent: dict[str, Any]) -> str:
    """Writes an agent (its ``SACState.state_dict()``, as a checkpoint holds it) as a policy file for
    ``cfg``'s robot; returns the file's sha256."""
    data = {
        "format": FORMAT,
        "robot": cfg.robot,
        "layout": layout_of(cfg.robot),
        "action_dim": robots.get(cfg.robot).action_dim,
        "sac": net_shape(cfg),
        "actor": {k: v.detach().cpu().float().clone() for k, v in agent["actor"].items()},
        "critic": {k: v.detach().cpu().float().clone() for k, v in agent["critic"].items()},
        "log_alpha": agent["log_alpha"].detach().cpu().clone(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _from_run_dir(run_dir: Path) -> dict[str, Any]:
    found = checkpoint.load_latest(run_dir / "checkpoints")
    if found is None:
        raise ConfigError(f"init_from={str(run_dir)!r}: the run directory has no checkpoint")
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    sac = saved.get("sac", {})
    return {"format": FORMAT, "robot": saved["robot"], "layout": layout_of(saved["robot"]),
            "action_dim": robots.get(saved["robot"]).action_dim,
            "sac": {k: sac.get(k) for k in ("hidden", "depth", "log_std_min", "log_std_max")},
            **{k: found[1]["agent"][k] for k in ("actor", "critic", "critic_target", "log_alpha")}}  # fmt: skip


def read(source: str, cfg: TrainConfig) -> dict[str, Any]:
    """The policy ``init_from`` names, checked against ``cfg``.

    Args:
        source: ``shipped``, a policy file, or a run directory.
        cfg: the run it is to start.

    Raises:
        ConfigError: one line: no such file, not a policy file, or a policy for another robot,
            observation layout or network shape.
    """
    path = shipped_path(cfg.robot) if source == SHIPPED_NAME else Path(source).expanduser()
    where = f"init_from={source!r}" + (f" ({path})" if source == SHIPPED_NAME else "")
    if source == SHIPPED_NAME and not path.is_file():
        have = sorted(p.parent.name for p in SHIPPED.glob("*/policy.pt"))
        raise ConfigError(f"{where}: no shipped policy for {cfg.robot}; shipped: {', '.join(have) or 'none'}")
    if path.is_dir():
        policy = _from_run_dir(path)
    elif path.is_file():
        try:
            policy = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as err:  # truncated, foreign
            raise ConfigError(f"{where}: not a policy file ({type(err).__name__})") from None
        if not isinstance(policy, dict) or policy.get("format") != FORMAT:
            raise ConfigError(f"{where}: not a policy file (format {FORMAT} expected)")
    else:
        raise ConfigError(f"{where}: no such file or run directory")
    if policy["robot"] != cfg.robot:
        raise ConfigError(f"{where}: a policy for {policy['robot']}, not for robot={cfg.robot}")
    if policy["layout"] != layout_of(cfg.robot) or policy["action_dim"] != robots.get(cfg.robot).action_dim:
        raise ConfigError(f"{where}: its observation layout {policy['layout']} is not {cfg.robot}'s "
                          f"{layout_of(cfg.robot)}")  # fmt: skip
    want = net_shape(cfg)
    if policy["sac"] != want:
        diff = ", ".join(f"sac.{k}={v}" for k, v in policy["sac"].items() if want[k] != v)
        raise ConfigError(f"{where}: its networks were trained with {diff}; set the same for this run")
    return policy


def start_from(agent: SACState, policy: dict[str, Any]) -> None:
    """Loads a policy's actor, critics (target critics: the saved ones, else the critics) and
    temperature into a fresh agent; its optimizers keep their fresh state."""
    agent.actor.load_state_dict(policy["actor"])
    agent.critic.load_state_dict(policy["critic"])
    agent.critic_target.load_state_dict(policy.get("critic_target", policy["critic"]))
    with torch.no_grad():
        agent.log_alpha.copy_(policy["log_alpha"])


def check_plant(cfg: TrainConfig) -> None:
    """The plant role, the gap profile (it must load) and the starting policy (it must fit).

    Raises:
        ConfigError: one line naming the field.
    """
    from robots import gaps

    if cfg.plant not in ("real", "sim"):
        raise ConfigError(f"plant={cfg.plant!r}: valid: real, sim")
    try:
        profile = gaps.get(cfg.gap, cfg.robot)
    except gaps.GapError as err:
        raise ConfigError(f"gap={cfg.gap!r}: {err}") from None
    if cfg.plant == "sim" and not profile.is_none:
        raise ConfigError(f"gap={cfg.gap!r} with plant=sim: the sim has no gap (gap= describes the real plant)")
    if cfg.init_from:
        read(cfg.init_from, cfg)


def write_manifest(path: Path, content: dict[str, Any]) -> None:
    """Writes ``manifest.json`` beside a shipped policy."""
    path.write_text(json.dumps(content, indent=2) + "\n")
