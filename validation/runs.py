"""A training run as validation sees it: the policy, the world model and the ledger of its newest
checkpoint, rebuilt from the run directory without the training machinery (no buffers are
allocated, no plant is built)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from omegaconf import OmegaConf

import robots
from pipeline import checkpoint
from pipeline.config import TrainConfig, model_hyper
from pipeline.ledger import Ledger
from pipeline.sac import Actor
from pipeline.train import context_dim
from pipeline.world_model import EnsembleDynamics


class RunError(ValueError):
    """A run directory cannot be used for validation; the message names the path and the reason."""


@dataclass
class Run:
    """One trained run, loaded for validation."""

    path: Path
    config: TrainConfig
    step: int
    actor: Actor
    model: EnsembleDynamics | None
    ledger: dict[str, Any]

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


def ledger_summary(ledger: Ledger, cfg: TrainConfig) -> dict[str, Any]:
    """The ledger summary with the run's own anchor rule (as :func:`pipeline.train.ledger_summary`)."""
    ratio = cfg.algo.real_ratio if cfg.algo.model_based else 1.0
    out = ledger.summary(min_real=1, max_synthetic_share=1.0 - ratio + 1.0 / cfg.sac.batch_size)
    out["configured_real_ratio"] = ratio
    return out


def load_run(run_dir: str | Path) -> Run:
    """The newest verified checkpoint of ``run_dir``: actor, world model (model-based runs; with its context
    input when the run was trained with ``context=true``) and ledger.

    Raises:
        RunError: not a run directory, or it has no checkpoint yet.
    """
    path = Path(run_dir)
    cfg = read_config(path)
    found = checkpoint.load_latest(path / "checkpoints")
    if found is None:
        raise RunError(f"{path} has no checkpoint yet: train it first (synthgate train run_dir={path})")
    payload = found[1]
    record = robots.get(cfg.robot)
    obs_dim, act_dim = record.layout.size, record.action_dim
    actor = Actor(obs_dim, act_dim, cfg.sac.hidden, cfg.sac.depth, cfg.sac.log_std_min, cfg.sac.log_std_max)
    actor.load_state_dict(payload["agent"]["actor"])
    actor.eval()
    model = None
    if payload.get("model") is not None:
        model = EnsembleDynamics(obs_dim, act_dim, model_hyper(cfg.algo), context_dim(cfg))
        model.load_state_dict(payload["model"])
        model.eval()
    ledger = Ledger()
    ledger.load_state_dict(payload["ledger"])
    return Run(path, cfg, int(payload["step"]), actor, model, ledger_summary(ledger, cfg))


def actor_device(actor: Actor) -> torch.device:
    """The device the actor's weights live on."""
    return next(actor.parameters()).device
