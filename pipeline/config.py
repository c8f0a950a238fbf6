"""Typed configuration: dataclasses registered as Hydra's schema, validated before any work.

Configs are never mutated after parsing; hot code reads frozen values derived by functions
(:func:`sac_hyper`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import robots
from pipeline.interchange import DatasetImportConfig
from pipeline.sac import SACHyper
from pipeline.world_model import ModelHyper


@dataclass(frozen=True)
class AlgoSpec:
    """What an algorithm name means: whether it uses a world model, and the model's two switches."""

    description: str
    model_based: bool
    target: str = "direct"
    target_norm: str = "independent"


ALGORITHMS: dict[str, AlgoSpec] = {
    "sac": AlgoSpec("Soft Actor-Critic on real transitions only (the baseline).", model_based=False),
    "mbpo": AlgoSpec("MBPO's original model: residual targets, raw jointly scaled targets.", True, "residual", "joint"),
    "ftfl": AlgoSpec(
        "FTFL: direct next-state targets, independent target normalization.", True, "direct", "independent"
    ),
    "ftfl_norm_only": AlgoSpec("FTFL's normalization fix only (residual targets).", True, "residual", "independent"),
    "ftfl_direct_only": AlgoSpec("FTFL's direct-target fix only (joint raw targets).", True, "direct", "joint"),
}
"""Every algorithm ``algo.name`` may take (the Hydra group ``algo`` has one preset per name)."""


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
class ModelConfig:
    """The world model's ensemble and its training (defaults: MBPO, REFERENCE.md)."""

    members: int = 7
    """Ensemble members."""
    elites: int = 5
    """Members used for rollouts, chosen on holdout loss."""
    hidden: int = 200
    """Width of every hidden layer."""
    depth: int = 4
    """Number of hidden layers."""
    weight_decay: list[float] = field(default_factory=lambda: [2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4])
    """Per-layer weight decay (depth + 1 entries, the last for the output layer)."""
    lr: float = 1e-3
    """Adam learning rate."""
    batch_size: int = 256
    """Transitions per member per gradient step."""
    holdout_ratio: float = 0.2
    """Share of real data held out for early stopping and elite selection."""
    max_holdout: int = 5000
    """Cap on the holdout size."""
    patience: int = 5
    """Stop after this many epochs in which no member improved its holdout loss by more than 1%."""
    max_epochs: int = 200
    """Cap on epochs per retrain."""
    max_retrain_s: float = 60.0
    """Cap on wall-clock seconds per retrain."""
    logvar_penalty: float = 0.01
    """Weight of the learned log-variance bound penalty."""
    likelihood: str = "gaussian_nll"
    """``gaussian_nll`` (MBPO) or ``beta_nll`` (each element weighted by its variance**beta, held fixed)."""
    beta: float = 0.5
    """The β of β-NLL."""


@dataclass
class AlgoConfig:
    """Which algorithm trains the policy (a Hydra group: ``algo=sac|mbpo|ftfl|...``)."""

    name: str = "sac"
    """Algorithm name; one of ALGORITHMS."""
    utd: int = 1
    """Agent gradient steps per env step (update-to-data ratio)."""
    model_based: bool = False
    """Train a world model and mix its synthetic rollouts into the agent's batches."""
    target: str = "direct"
    """World-model target: ``direct`` (s') or ``residual`` (s' - s)."""
    target_norm: str = "independent"
    """``independent`` (state and reward targets standardized separately) or ``joint`` (raw)."""
    real_ratio: float = 0.05
    """Share of real transitions in every agent batch (per-batch split; see pipeline.mixer)."""
    retrain_every: int = 250
    """Env steps between model retrains (each followed by a rollout)."""
    rollouts_per_step: int = 400
    """Model rollout starts per env step; each rollout makes retrain_every * this many starts."""
    rollout_schedule: list[int] = field(default_factory=lambda: [20, 150, 1, 1])
    """[epoch start, epoch end, k start, k end]: rollout length grows linearly; an epoch is 1000 env steps."""
    model_retain_epochs: int = 1
    """Synthetic buffer size in epochs of rollouts."""
    drop_range_factor: float = 1.0
    """Predictions outside [min - f*range, max + f*range] of real states are dropped."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """World-model settings."""


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
    underestimation_ratio: float = 0.5
    """Alarm when the critic's mean Q on evaluation states falls below this fraction of the MC return."""
    kstep: list[int] = field(default_factory=lambda: [1, 5, 10])
    """Horizons of the k-step model error diagnostic."""
    scenarios: list[str] = field(default_factory=list)
    """Scenarios (``synthgate scenarios``) that real training episodes may run under."""
    exposure: float = 0.0
    """Probability that a real training episode runs under one of ``scenarios`` (drawn uniformly)."""
    import_datasets: list[DatasetImportConfig] = field(default_factory=list)
    """LeRobot datasets loaded into the real buffer before a new run starts (see docs/data.md)."""
    context: bool = False
    """Store each transition's perturbation context (robots.context) and condition the world model on it."""
    critic_context: bool = False
    """The critics also read the context (needs context=true); the policy never does."""
    targeted: bool = False
    """Give a share of each model rollout phase's starts to targeted generation for ``scenarios``."""
    targeted_share: float = 0.5
    """Share of rollout starts that go to the scenarios (split evenly); the rest are nominal rollouts."""
    targeted_disagreement: float = 3.0
    """Drop a targeted rollout if a step's ensemble disagreement exceeds this times the real-data mean."""
    targeted_proximity: float = 0.5
    """Length scale of the start weight exp(-d / scale), d = standardized distance to the nearest real failure."""


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
    spec = ALGORITHMS[cfg.algo.name]
    for key in ("model_based", "target", "target_norm"):
        want, got = getattr(spec, key), getattr(cfg.algo, key)
        if (spec.model_based or key == "model_based") and got != want:
            match = [n for n, s in ALGORITHMS.items() if s.model_based and s.target == cfg.algo.target
                     and s.target_norm == cfg.algo.target_norm]  # fmt: skip
            raise ConfigError(
                f"algo.{key}={got!r} contradicts algo={cfg.algo.name} ({key}={want!r}); "
                f"choose the preset that means what you want: {', '.join(match) or ', '.join(ALGORITHMS)}"
            )
    if not 0.0 <= cfg.algo.real_ratio <= 1.0:
        raise ConfigError(f"algo.real_ratio={cfg.algo.real_ratio!r}: must be in [0, 1]")
    for name in ("retrain_every", "rollouts_per_step", "model_retain_epochs"):
        _positive(f"algo.{name}", getattr(cfg.algo, name))
    sched = cfg.algo.rollout_schedule
    if len(sched) != 4 or sched[0] > sched[1] or min(sched[2], sched[3]) < 1:
        raise ConfigError(f"algo.rollout_schedule={sched!r}: want [epoch start <= epoch end, k start >= 1, k end >= 1]")
    m = cfg.algo.model
    for name in ("members", "elites", "hidden", "depth", "batch_size", "max_holdout", "max_epochs"):
        _positive(f"algo.model.{name}", getattr(m, name))
    if m.elites > m.members:
        raise ConfigError(f"algo.model.elites={m.elites}: must be <= algo.model.members={m.members}")
    if len(m.weight_decay) != m.depth + 1:
        raise ConfigError(f"algo.model.weight_decay has {len(m.weight_decay)} entries: need depth + 1 = {m.depth + 1}")
    if m.likelihood not in ("gaussian_nll", "beta_nll"):
        raise ConfigError(f"algo.model.likelihood={m.likelihood!r}: valid: gaussian_nll, beta_nll")
    if not 0.0 <= m.holdout_ratio < 1.0:
        raise ConfigError(f"algo.model.holdout_ratio={m.holdout_ratio!r}: must be in [0, 1)")
    if not 0.0 <= cfg.exposure <= 1.0:
        raise ConfigError(f"exposure={cfg.exposure!r}: must be in [0, 1]")
    if cfg.exposure > 0 and not cfg.scenarios:
        raise ConfigError(f"exposure={cfg.exposure!r} needs at least one name in scenarios=[...]")
    for i, ds in enumerate(cfg.import_datasets):
        if not Path(ds.path).is_dir():
            raise ConfigError(f"import_datasets[{i}].path={ds.path!r}: no such directory")
    if cfg.critic_context and not cfg.context:
        raise ConfigError("critic_context=true needs context=true (the buffers store no context otherwise)")
    if cfg.targeted:
        if not cfg.algo.model_based:
            raise ConfigError(f"targeted=true needs a model-based algo (mbpo, ftfl...), not algo={cfg.algo.name}")
        if not cfg.scenarios:
            raise ConfigError("targeted=true needs at least one name in scenarios=[...] to generate for")
        if not cfg.context:
            raise ConfigError(
                "targeted=true needs context=true (the model is conditioned on each scenario's parameters)"
            )
    if not 0.0 <= cfg.targeted_share <= 1.0:
        raise ConfigError(f"targeted_share={cfg.targeted_share!r}: must be in [0, 1]")
    if not cfg.targeted_disagreement > 0:
        raise ConfigError(f"targeted_disagreement={cfg.targeted_disagreement!r}: must be > 0")
    if not cfg.targeted_proximity > 0:
        raise ConfigError(f"targeted_proximity={cfg.targeted_proximity!r}: must be > 0")
    if any(k < 1 for k in cfg.kstep):
        raise ConfigError(f"kstep={cfg.kstep!r}: every horizon must be >= 1")
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


def model_hyper(cfg: AlgoConfig) -> ModelHyper:
    """The frozen world-model settings."""
    m = cfg.model
    return ModelHyper(
        members=m.members, elites=m.elites, hidden=m.hidden, depth=m.depth, weight_decay=tuple(m.weight_decay),
        lr=m.lr, batch_size=m.batch_size, holdout_ratio=m.holdout_ratio, max_holdout=m.max_holdout,
        patience=m.patience, max_epochs=m.max_epochs, max_retrain_s=m.max_retrain_s,
        logvar_penalty=m.logvar_penalty, target=cfg.target, target_norm=cfg.target_norm, likelihood=m.likelihood,
        beta=m.beta,
    )  # fmt: skip


def rollout_length(schedule: list[int], step: int) -> int:
    """MBPO's rollout-length schedule at ``step`` env steps (epochs of 1000 steps)."""
    e0, e1, k0, k1 = schedule
    epoch = step // 1000
    if e1 == e0:
        return int(k1 if epoch >= e1 else k0)
    frac = min(max((epoch - e0) / (e1 - e0), 0.0), 1.0)
    return int(k0 + frac * (k1 - k0))


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
