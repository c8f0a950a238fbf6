"""Typed configuration: dataclasses registered as Hydra's schema, validated before any work.

Configs are never mutated after parsing; hot code reads frozen values derived by functions
(:func:`sac_hyper`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import robots
from pipeline.sac import SACHyper

ALGORITHMS: dict[str, str] = {
    "sac": "Soft Actor-Critic on real transitions only (the baseline).",
}
"""Every algorithm ``algo.name`` may take, with a one-line description."""


class ConfigError(ValueError):
    """A config value is invalid; the message names the field, the value and what is allowed."""


@dataclass
class SACConfig:
    """Soft Actor-Critic settings (defaults: MBPO's SAC, REFERENCE.md)."""

    hidden: int = 256
    """Width of every hidden layer of actor and critics."""
    depth: int = 2
    """Number of hidden layers."""
    lr_actor: float = 3e-4
    """Adam learning rate of the actor."""
    lr_critic: float = 3e-4
    """Adam learning rate of the twin critics."""
    lr_alpha: float = 3e-4
    """Adam learning rate of log(temperature)."""
    gamma: float = 0.99
    """Discount factor."""
    tau: float = 5e-3
    """Polyak rate of the target critics."""
    batch_size: int = 256
    """Transitions per gradient step."""
    init_alpha: float = 0.1
    """Initial entropy temperature."""
    target_entropy: float | None = None
    """Entropy target; None means -action_dim."""
    log_std_min: float = -5.0
    """Lower bound of the policy's log standard deviation."""
    log_std_max: float = 2.0
    """Upper bound of the policy's log standard deviation."""


@dataclass
class AlgoConfig:
    """Which algorithm trains the policy (a Hydra group: ``algo=sac``)."""

    name: str = "sac"
    """Algorithm name; one of ALGORITHMS."""
    utd: int = 1
    """Agent gradient steps per env step (update-to-data ratio)."""


@dataclass
class TrainConfig:
    """``synthgate train``: one training run in one run directory."""

    robot: str = "cartpole-swingup"
    """Registered robot name (``synthgate robots`` lists them)."""
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    """Algorithm preset."""
    sac: SACConfig = field(default_factory=SACConfig)
    """Agent settings."""
    steps: int = 50_000
    """Env steps to train for (total, including random warm-up)."""
    seed: int = 0
    """Seed of every random stream in the run."""
    run_dir: str = "runs/${robot}-${algo.name}-s${seed}"
    """Where checkpoints, TensorBoard logs and metrics go; an existing one is resumed."""
    learning_starts: int = 5_000
    """Env steps of uniform random actions before the first update."""
    buffer_capacity: int = 1_000_000
    """Replay buffer size in transitions."""
    eval_every: int = 5_000
    """Env steps between evaluations (0: only at the end)."""
    eval_episodes: int = 5
    """Deterministic-policy episodes per evaluation, on held-out seeds."""
    checkpoint_every: int = 10_000
    """Env steps between checkpoints (a final one is always written)."""
    keep_checkpoints: int = 2
    """How many checkpoints to keep on disk."""
    log_every: int = 1_000
    """Env steps between TensorBoard scalar writes."""
    device: str = "auto"
    """``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``."""
    threads: int = 0
    """torch intra-op threads; 0 keeps torch's default."""
    progress: bool = True
    """Show a progress bar."""
    robot_settings: dict[str, Any] = field(default_factory=dict)
    """Overrides of the robot's default settings (e.g. ``max_episode_steps``)."""


RESUMABLE_CHANGES = frozenset({"steps", "progress", "threads", "device"})
"""Fields that may differ when a run directory is resumed (``steps`` extends a run)."""


def _positive(path: str, value: int, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{path}={value!r}: must be {'>= 0' if allow_zero else '> 0'}")


def validate(cfg: TrainConfig) -> None:
    """Checks every field before work starts.

    Raises:
        ConfigError: naming the field, the value and what is allowed.
    """
    if cfg.robot not in robots.names():
        raise ConfigError(f"robot={cfg.robot!r}: unknown robot; valid robots: {', '.join(robots.names())}")
    if cfg.algo.name not in ALGORITHMS:
        raise ConfigError(f"algo.name={cfg.algo.name!r}: unknown algorithm; valid: {', '.join(sorted(ALGORITHMS))}")
    unknown = set(cfg.robot_settings) - set(robots.get(cfg.robot).defaults)
    if unknown:
        raise ConfigError(
            f"robot_settings: {sorted(unknown)} are not settings of {cfg.robot}; "
            f"valid: {sorted(robots.get(cfg.robot).defaults)}"
        )
    for name in ("steps", "buffer_capacity", "eval_episodes", "checkpoint_every", "keep_checkpoints", "log_every"):
        _positive(name, getattr(cfg, name))
    for name in ("learning_starts", "eval_every", "threads"):
        _positive(name, getattr(cfg, name), allow_zero=True)
    _positive("algo.utd", cfg.algo.utd)
    for name in ("hidden", "depth", "batch_size"):
        _positive(f"sac.{name}", getattr(cfg.sac, name))
    for name in ("lr_actor", "lr_critic", "lr_alpha", "init_alpha"):
        if not getattr(cfg.sac, name) > 0:
            raise ConfigError(f"sac.{name}={getattr(cfg.sac, name)!r}: must be > 0")
    if not 0.0 <= cfg.sac.gamma < 1.0:
        raise ConfigError(f"sac.gamma={cfg.sac.gamma!r}: must be in [0, 1)")
    if not 0.0 < cfg.sac.tau <= 1.0:
        raise ConfigError(f"sac.tau={cfg.sac.tau!r}: must be in (0, 1]")
    if not cfg.sac.log_std_min < cfg.sac.log_std_max:
        raise ConfigError(
            f"sac.log_std_min={cfg.sac.log_std_min!r}, sac.log_std_max={cfg.sac.log_std_max!r}: min must be < max"
        )
    dev = cfg.device
    if not (dev in ("auto", "cpu", "cuda") or (dev.startswith("cuda:") and dev[5:].isdigit())):
        raise ConfigError(f"device={dev!r}: valid: auto, cpu, cuda, cuda:N")


def sac_hyper(cfg: SACConfig, action_dim: int) -> SACHyper:
    """The frozen values the SAC update reads."""
    target = -float(action_dim) if cfg.target_entropy is None else float(cfg.target_entropy)
    return SACHyper(
        gamma=cfg.gamma,
        tau=cfg.tau,
        target_entropy=target,
        log_std_min=cfg.log_std_min,
        log_std_max=cfg.log_std_max,
    )


def flat_items(obj: Any, prefix: str = "") -> dict[str, Any]:
    """A dataclass (or dict) tree as ``{"a.b": value}``, for comparing and logging configs."""
    out: dict[str, Any] = {}
    items = obj.items() if isinstance(obj, dict) else ((f.name, getattr(obj, f.name)) for f in fields(obj))
    for key, value in items:
        path = f"{prefix}{key}"
        if hasattr(value, "__dataclass_fields__") or isinstance(value, dict):
            nested = flat_items(value, path + ".")
            out.update(nested if nested else {path: {}})
        else:
            out[path] = value
    return out
