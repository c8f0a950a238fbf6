"""The plants a training run steps: the real plant (the robot with its gap profile) or the sim, each
nominal or under one of the run's scenarios (real exposure), with the provenance of what they make."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

import robots
from pipeline.buffer import Source
from pipeline.config import ConfigError, TrainConfig, scenario_names, stream_seed
from robots.context import encode as encode_context
from robots.perturbations import Perturbation, PerturbedEnv

TRAIN_STREAM, EXPOSURE_STREAM = 0, 4
"""The run's random streams of training episodes' seeds and of their scenario draws (``pipeline.train``
numbers the others 1-3)."""


class Plants:
    """The real plant of each training episode: nominal, or, with probability ``exposure``, under
    one of the configured scenarios' perturbations (real exposure: the rare real data that anchors
    the model). The choice is a function of (seed, episode), so a resumed run makes the same one.
    Every variant wraps the same plant and restores its nominal model on reset."""

    def __init__(self, env: Any, cfg: TrainConfig, exposures: Mapping[str, Sequence[Perturbation]]) -> None:
        self.names = scenario_names(cfg)
        missing = sorted(set(self.names) - set(exposures))
        if missing:
            raise ConfigError(f"scenarios={self.names}: no perturbations were given for {missing}")
        self.cfg = cfg
        gap = getattr(env, "profile", None)  # robots.gaps.GappedEnv: the real plant's profile
        self.prefix = f"sim/{cfg.robot}" if cfg.plant == "sim" else f"{cfg.robot}[{gap.tag}]/plant" if gap else \
            f"{cfg.robot}/plant"  # fmt: skip
        self.source = Source.SYNTHETIC if cfg.plant == "sim" else Source.REAL
        if self.names:
            self.envs: dict[str | None, Any] = {None: PerturbedEnv(env, [])}
            self.envs.update({n: PerturbedEnv(env, list(exposures[n])) for n in self.names})
        else:
            self.envs = {None: env}

    def scenario(self, episode: int) -> str | None:
        """The scenario (or None for nominal) of training episode ``episode``."""
        if not self.names or self.cfg.exposure <= 0:
            return None
        rng = np.random.default_rng(stream_seed(self.cfg.seed, EXPOSURE_STREAM, episode))
        if rng.random() >= self.cfg.exposure:
            return None
        return self.names[int(rng.integers(len(self.names)))]

    def env(self, episode: int) -> Any:
        return self.envs[self.scenario(episode)]

    def context(self, episode: int, layout: robots.ContextLayout) -> np.ndarray:
        """The context of the current step of training episode ``episode``: what its plant applied
        so far (:func:`robots.context.encode`; zeros for a nominal episode)."""
        env = self.env(episode)
        return encode_context(env.active if isinstance(env, PerturbedEnv) else [], layout)

    def origin(self, episode: int) -> str:
        """``<robot>/plant`` (the real plant without a gap), ``<robot>[<gap>@<hash8>]/plant`` or
        ``sim/<robot>`` (``plant=sim``), then ``:<scenario>`` under a scenario."""
        name = self.scenario(episode)
        return self.prefix + (f":{name}" if name else "")

    def reset(self, episode: int) -> np.ndarray:
        obs, _ = self.env(episode).reset(seed=stream_seed(self.cfg.seed, TRAIN_STREAM, episode))
        return np.asarray(obs)
