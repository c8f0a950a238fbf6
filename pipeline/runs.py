"""A finished (or checkpointed) training run, loaded: the one way every later stage (validation,
the stress search, deploy, ``synthgate play``) reads a run directory. Its config, its newest
verified checkpoint, the policy and the world model rebuilt from them, and the ledger summary,
without the training machinery (no buffers are allocated, no plant is built)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from omegaconf import OmegaConf

import robots
from pipeline import checkpoint, sources
from pipeline.config import TrainConfig, context_dim, effective_real_ratio, model_hyper
from pipeline.ledger import Ledger, anchored_summary
from pipeline.sac import Actor
from pipeline.sim_env import SimEnv
from pipeline.world_model import EnsembleDynamics


class RunError(ValueError):
    """A run directory cannot be loaded; the message names the path and the reason."""


@dataclass
class Run:
    """One trained run, loaded."""

    path: Path
    config: TrainConfig
    step: int
    actor: Actor
    """The policy, in eval mode."""
    model: EnsembleDynamics | None
    """The world model (model-based runs), in eval mode, with its context input when the run had one."""
    source_env: tuple[str, SimEnv] | None
    """The first sim-stepping source (``sources``) as the checkpoint left it: its name and its sim."""
    ledger: dict[str, Any]
    """The ledger summary with the run's anchor rule."""
    checkpoint: Path
    """The checkpoint file everything was loaded from."""
    payload: dict[str, Any] | None = field(repr=False)
    """That checkpoint's contents (buffers, optimizer states, random streams) when asked for
    (``load_run(..., payload=True)``); None otherwise, so loading many runs keeps no buffers."""

    @property
    def name(self) -> str:
        """How reports name the run: its directory's name."""
        return self.path.name


def read_config(run_dir: Path) -> TrainConfig:
    """The run's ``config.yaml`` as a :class:`TrainConfig` (fields added since the run read as defaults).

    Raises:
        RunError: no ``config.yaml`` in ``run_dir``.
    """
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise RunError(f"{path} does not exist: is {run_dir} a synthgate run directory?")
    saved = yaml.safe_load(path.read_text())
    merged = OmegaConf.merge(OmegaConf.structured(TrainConfig), saved)
    cfg = OmegaConf.to_object(merged)
    assert isinstance(cfg, TrainConfig)
    return cfg


def load_run(run_dir: str | Path, payload: bool = False, step: int | None = None) -> Run:
    """The newest verified checkpoint of ``run_dir`` (or the one of ``step``): actor, world model
    (model-based runs; with its context input when the run was trained with ``context=true``) and
    ledger; with ``payload``, the whole checkpoint too (its buffers: the stress search's fit and
    deploy's parity check read them).

    Raises:
        RunError: not a run directory, it has no checkpoint yet, or none of ``step``.
    """
    path = Path(run_dir)
    cfg = read_config(path)
    found: tuple[Path, dict[str, Any]] | None
    if step is not None:
        try:
            found = checkpoint.load_step(path / "checkpoints", step)
        except checkpoint.CheckpointError as err:
            raise RunError(str(err)) from None
    else:
        found = checkpoint.load_latest(path / "checkpoints")
    if found is None:
        raise RunError(f"{path} has no checkpoint yet: train it first (synthgate train run_dir={path})")
    where, contents = found
    record = robots.get(cfg.robot)
    obs_dim, act_dim = record.layout.size, record.action_dim
    actor = Actor(obs_dim, act_dim, cfg.sac.hidden, cfg.sac.depth, cfg.sac.log_std_min, cfg.sac.log_std_max)
    actor.load_state_dict(contents["agent"]["actor"])
    actor.eval()
    model = None
    saved = sources.upgrade(contents)["sources"].get("model")
    if saved is not None:
        model = EnsembleDynamics(obs_dim, act_dim, model_hyper(cfg.algo), context_dim(cfg))
        model.load_state_dict(saved["model"])
        model.eval()
    ledger = Ledger()
    ledger.load_state_dict(contents["ledger"])
    summary = anchored_summary(ledger, effective_real_ratio(cfg), cfg.sac.batch_size)
    return Run(path, cfg, int(contents["step"]), actor, model, sources.saved_env(cfg, contents), summary, where,
               contents if payload else None)  # fmt: skip


def actor_device(actor: Actor) -> torch.device:
    """The device the actor's weights live on."""
    return next(actor.parameters()).device
