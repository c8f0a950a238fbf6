"""Helpers shared by several test modules (imported as ``helpers``: tests/ is on sys.path via conftest)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Any

import numpy as np

from pipeline.config import AlgoConfig, model_hyper
from pipeline.world_model import ModelHyper


def synthgate(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Runs the command line in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "synthgate", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def hyper(**kw: object) -> ModelHyper:
    """The configured world-model defaults, small, with ``kw`` replaced."""
    small = {"members": 3, "elites": 2, "hidden": 16, "depth": 2, "weight_decay": (0.0, 0.0, 0.0), **kw}
    return dataclasses.replace(model_hyper(AlgoConfig()), **small)  # type: ignore[arg-type]


def model_arrays(model: object) -> dict[str, np.ndarray]:
    """Copies of every numpy array of a MuJoCo model."""
    return {n: getattr(model, n).copy() for n in dir(model) if isinstance(getattr(model, n), np.ndarray)}


def rollout(env: Any, seed: int, steps: int) -> np.ndarray:
    """Observations of a seeded episode under fixed pseudo-random actions."""
    rng = np.random.default_rng(0)
    out = [env.reset(seed=seed)[0]]
    for _ in range(steps):
        out.append(env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))[0])
    return np.asarray(out)
