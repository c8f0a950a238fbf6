"""What a training run holds and checkpoints: :class:`RunState` (agent, real buffer, synthetic
sources, ledger, random streams, counters, fault log) and :func:`new_state`, which derives a fresh
one from the config's seed. :mod:`pipeline.train` steps it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from pipeline import sources
from pipeline.buffer import ReplayBuffer
from pipeline.config import TrainConfig, context_dim, stream_seed
from pipeline.faults import FaultLog
from pipeline.ledger import Ledger
from pipeline.sac import SACState, make_sac
from pipeline.sources import SyntheticSource

CHECKPOINT_VERSION = 2
INIT_STREAM = 2
"""The random stream of a run's initial weights and generators (pipeline.train numbers the others)."""


@dataclass
class RunState:
    """Everything that changes during a run (and therefore goes into a checkpoint)."""

    agent: SACState
    buffer: ReplayBuffer
    np_rng: np.random.Generator
    gen_act: torch.Generator
    gen_update: torch.Generator
    ledger: Ledger = field(default_factory=Ledger)
    sources: dict[str, SyntheticSource] = field(default_factory=dict)
    """The synthetic sources by name, in mixing order (:mod:`pipeline.sources`): the world model,
    the sim-stepping ones, then one per imported outside generator (filled once, never evicted)."""
    step: int = 0
    updates: int = 0
    episode: int = 0
    episode_return: float = 0.0
    episode_actions: list[np.ndarray] = field(default_factory=list)
    obs: np.ndarray | None = None
    faults: FaultLog = field(default_factory=FaultLog)

    def pools(self) -> dict[str, ReplayBuffer | None]:
        """The synthetic pools the mixer draws from, by source."""
        return {name: source.pool for name, source in self.sources.items()}

    def payload(self) -> dict[str, Any]:
        """The checkpoint payload."""
        return {
            "version": CHECKPOINT_VERSION,
            "step": self.step,
            "updates": self.updates,
            "episode": self.episode,
            "episode_return": self.episode_return,
            "episode_actions": np.asarray(self.episode_actions, dtype=np.float32),
            "obs": self.obs,
            "agent": self.agent.state_dict(),
            "buffer": self.buffer.state_dict(),
            "np_rng": self.np_rng.bit_generator.state,
            "gen_act": self.gen_act.get_state(),
            "gen_update": self.gen_update.get_state(),
            "ledger": self.ledger.state_dict(),
            "faults": self.faults.state_dict(),
            "sources": {name: source.state_dict() for name, source in self.sources.items()},
        }

    def restore(self, payload: dict[str, Any]) -> None:
        """Loads :meth:`payload` back."""
        payload = sources.upgrade(payload)
        if payload.get("version") != CHECKPOINT_VERSION:
            raise RuntimeError(f"checkpoint version {payload.get('version')} != {CHECKPOINT_VERSION}")
        self.step, self.updates, self.episode = payload["step"], payload["updates"], payload["episode"]
        self.episode_return = payload["episode_return"]
        self.episode_actions = list(payload["episode_actions"])
        self.obs = payload["obs"]
        self.agent.load_state_dict(payload["agent"])
        self.buffer.load_state_dict(payload["buffer"])
        self.np_rng.bit_generator.state = payload["np_rng"]
        self.gen_act.set_state(payload["gen_act"])
        self.gen_update.set_state(payload["gen_update"])
        self.ledger.load_state_dict(payload["ledger"])
        for name, saved in payload["sources"].items():
            if name in self.sources:
                self.sources[name].load_state_dict(saved)
            else:  # an outside generator's pool: made at import, not by the config
                self.sources[name] = sources.restore_generated(saved, self.buffer)
                self.sources[name].name = name
        self.faults.load_state_dict(payload.get("faults"))


def new_state(cfg: TrainConfig, obs_dim: int, act_dim: int, device: torch.device) -> RunState:
    """A fresh run: agent weights, buffer and RNG streams, all derived from ``cfg.seed``."""
    ctx_dim = context_dim(cfg)
    init = torch.Generator().manual_seed(stream_seed(cfg.seed, INIT_STREAM, 0))
    agent = make_sac(
        obs_dim,
        act_dim,
        hidden=cfg.sac.hidden,
        depth=cfg.sac.depth,
        lr_actor=cfg.sac.lr_actor,
        lr_critic=cfg.sac.lr_critic,
        lr_alpha=cfg.sac.lr_alpha,
        init_alpha=cfg.sac.init_alpha,
        log_std_min=cfg.sac.log_std_min,
        log_std_max=cfg.sac.log_std_max,
        device=device,
        generator=init,
        critic_ctx_dim=ctx_dim if cfg.critic_context else 0,
    )
    origins: list[str] = []  # one origin table for both buffers, so mixed batches keep one id space
    state = RunState(
        agent=agent,
        buffer=ReplayBuffer(obs_dim, act_dim, cfg.buffer_capacity, device, origins, ctx_dim),
        np_rng=np.random.default_rng(stream_seed(cfg.seed, INIT_STREAM, 1)),
        gen_act=torch.Generator(device=device).manual_seed(stream_seed(cfg.seed, INIT_STREAM, 2)),
        gen_update=torch.Generator(device=device).manual_seed(stream_seed(cfg.seed, INIT_STREAM, 3)),
        faults=FaultLog(**dataclasses.asdict(cfg.faults)),
    )
    state.sources = sources.build(cfg, state.buffer, device)
    return state
