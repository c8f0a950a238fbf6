"""Typed configuration: dataclasses registered as Hydra's schema, validated before any work.

Configs are never mutated after parsing; hot code reads frozen values derived by functions
(:func:`sac_hyper`).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

import robots
from pipeline.interchange import DatasetImportConfig
from pipeline.sac import SACHyper
from pipeline.world_model import STOP_RULES, ModelHyper
from robots import spec


@dataclass(frozen=True)
class AlgoSpec:
    """What an algorithm name means: whether it uses a world model, the model's two switches, and
    the likelihood its ensemble is fitted with."""

    description: str
    model_based: bool
    target: str = "direct"
    target_norm: str = "independent"
    likelihood: str = "gaussian_nll"
    utd: int = 20
    """Agent updates per env step by default (MBPO's 20 for model-based presets, 1 for SAC)."""

    def preset(self, name: str) -> dict[str, Any]:
        """The ``algo`` config group's entry for this preset (``synthgate.cli`` registers one per name)."""
        out: dict[str, Any] = {"name": name, "utd": self.utd, "model_based": self.model_based}
        if self.model_based:
            out.update(target=self.target, target_norm=self.target_norm, model={"likelihood": self.likelihood})
        return out

    def model_of(self, name: str, algo: AlgoConfig) -> AlgoConfig:
        """``algo`` with this preset's world model: its name, two switches and likelihood; every other
        setting (sizes, rollouts, drop range) is ``algo``'s own."""
        model = dataclasses.replace(algo.model, likelihood=self.likelihood)
        return dataclasses.replace(algo, name=name, model_based=True, target=self.target,
                                   target_norm=self.target_norm, model=model)  # fmt: skip


ALGORITHMS: dict[str, AlgoSpec] = {
    "sac": AlgoSpec("Soft Actor-Critic on real transitions only (the baseline).", model_based=False, utd=1),
    "mbpo": AlgoSpec("MBPO's original model: residual targets, raw jointly scaled targets.", True, "residual", "joint"),
    "ftfl": AlgoSpec(
        "FTFL: direct next-state targets, independent target normalization.", True, "direct", "independent"
    ),
    "ftfl_norm_only": AlgoSpec("FTFL's normalization fix only (residual targets).", True, "residual", "independent"),
    "ftfl_direct_only": AlgoSpec("FTFL's direct-target fix only (joint raw targets).", True, "direct", "joint"),
    "ftfl_beta_nll": AlgoSpec(
        "FTFL's two fixes with a beta-NLL likelihood (each error weighted by its variance**beta).",
        True,
        "direct",
        "independent",
        "beta_nll",
    ),
}
"""Every algorithm ``algo.name`` may take: the one source of the presets (the Hydra group ``algo`` is
made from it, :meth:`AlgoSpec.preset`)."""

DEFAULT_WORLD_MODEL = "ftfl_beta_nll"
"""The model-based preset the product trains when the user names none: the model arms of
``synthgate run`` and ``synthgate arms`` (:data:`validation.arms.ARM_OVERRIDES`), and so the model
behind their targeted generator and synthetic panel. It follows the evidence in docs/results.md:
online (issue 19) no world model beat ``sac`` and none was distinguishable from another except
``mbpo`` below ``sac_utd`` on cartpole-swingup; offline, ``ftfl_beta_nll`` had the lowest reward
error of the five variants on 7 of 9 tasks and the highest reward R² on the reward-rich stand-start
test set, where ``ftfl`` (Gaussian NLL) fell below ``mbpo``. docs/world_model.md gives the table.
Issue 32's study (docs/targeted.md, the ``model`` rows) changes nothing here: fine-tuning the shipped
policies on 5,000 real steps, its targeted rollouts were the only user source that hurt (Walker2d-v5
nominal return -1,464 [-2,010, -918]; Hopper-v5 collapses 3 of 6) and its synthetic panel ranked
policies worst (Hopper-v5 Pearson r 0.39 / 0.17 / -0.08 against 0.68-0.75 for the sim-based ones),
but no other world model was in that study to take its place. At the study's anchored setting
(``sac.anchor=100``) the model arm was ``unclear`` on both robots, like every source."""


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
    anchor: float = 0.0
    """Weight of a penalty on the squared distance between the actor's deterministic action and the
    starting policy's (``init_from``) on every batch state, added to the actor loss: a fine-tune
    that stays near the policy it started from (0: none). Needs ``init_from``."""


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
    holdout: str = "redraw"
    """``redraw`` (MBPO): a new random holdout at every retrain, so a warm-started model is judged
    partly on rows it was fitted to before; ``fixed``: a row's membership depends on its index only
    (``pipeline.world_model.fixed_holdout``), so holdout rows are never trained on."""
    patience: int = 5
    """Stop after this many epochs in which no member improved its holdout loss by more than 1%."""
    stop_rule: str = "member"
    """How a retrain judges that it stopped learning (``pipeline.world_model.STOP_RULES``):
    ``member`` (a member improved on its own best), ``mbrl`` (mbrl-lib's: any member improved, and
    every member's best follows) or ``mean`` (the members' mean holdout loss improved)."""
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
class FaultConfig:
    """What a run does about numerical faults (issue 8; docs/reliability.md)."""

    max_consecutive_skips: int = 100
    """Stop when this many agent updates in a row were skipped for a NaN or infinite loss."""
    max_consecutive_rollbacks: int = 3
    """Stop when this many world-model retrains in a row diverged and were rolled back."""
    model_divergence_factor: float = 100.0
    """A retrain whose elites' holdout error exceeds this multiple of the last good one's is rolled back (0: off)."""


@dataclass
class TrainConfig:
    """``synthgate train``: one training run in one run directory."""

    robot: str = "cartpole-swingup"
    """Registered robot name (``synthgate robots`` lists them)."""
    plant: str = "real"
    """``real`` (the robot with the ``gap`` profile: the real budget) or ``sim`` (nominal; its
    transitions are booked as the synthetic source ``sim``, never as real). docs/sim_to_real.md."""
    gap: str = "none"
    """The real plant's gap profile, a name or a path (``synthgate gaps <robot>``); ``none``: the sim."""
    init_from: str = ""
    """Start a new run from ``shipped`` (the robot's sim-trained policy), a policy file or a run
    directory (pipeline.policies); empty: from scratch."""
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    """Algorithm preset."""
    sac: SACConfig = field(default_factory=SACConfig)
    """Agent settings."""
    steps: int = 50_000
    """Env steps to train for (total, including random warm-up)."""
    seed: int = 0
    """Seed of every random stream in the run."""
    stacked_seeds: list[int] = field(default_factory=list)
    """Train these seeds in this process as one stacked computation (``algo=sac`` only,
    :mod:`pipeline.stacked_train`): seed ``s`` is an ordinary run in ``<run_dir>/seed-<s>``, the one
    ``seed=s`` would make. Empty: one run of ``seed``."""
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
    checkpoint_every_s: float = 900.0
    """Wall-clock seconds between checkpoints as well, at the first step boundary past them (0: off):
    on a CPU the model-based loop can take hours for ``checkpoint_every`` steps."""
    keep_checkpoints: int = 2
    """How many checkpoints to keep on disk."""
    log_every: int = 1_000
    """Env steps between TensorBoard scalar writes."""
    device: str = "auto"
    """``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``."""
    threads: int = 1
    """torch intra-op threads; 0 keeps torch's default (one per core). One is the default because on a
    shared 2-core machine two threads fight other processes for the cores: 2.2-2.4x slower with two
    other training processes running (docs/performance.md, "Thread settings")."""
    progress: bool = True
    """Show progress: tqdm's bar on a terminal; a plain line at most every 30 s when stderr is redirected."""
    robot_settings: dict[str, Any] = field(default_factory=dict)
    """Overrides of the robot's default settings (e.g. ``max_episode_steps``)."""
    underestimation_ratio: float = 0.5
    """Alarm when the critic's mean Q on evaluation states falls below this fraction of the MC return."""
    kstep: list[int] = field(default_factory=lambda: [1, 5, 10])
    """Horizons of the k-step model error diagnostic."""
    scenarios: list[str] = field(default_factory=list)
    """Scenarios (``synthgate scenarios``) that real training episodes may run under."""
    scenario: dict[str, Any] | None = None
    """One scenario from the Hydra group ``scenario`` (``scenario=push_recovery``), its data as loaded
    (fields may be overridden, e.g. ``scenario.description=...``); it joins ``scenarios`` (see
    :func:`scenario_names`)."""
    exposure: float = 0.0
    """Probability that a real training episode runs under one of ``scenarios`` (drawn uniformly)."""
    import_datasets: list[DatasetImportConfig] = field(default_factory=list)
    """LeRobot datasets loaded before a new run starts: real logs into the real buffer, an outside
    generator's episodes (``synthetic: true``) into a synthetic pool of their own (docs/data.md)."""
    sources: list[str] = field(default_factory=list)
    """Synthetic sources that step the sim from real states (pipeline.sources): ``sim``, ``sim_sysid``,
    ``sim_residual``; refreshed and rolled out every ``algo.retrain_every`` steps with ``algo``'s rollout sizes."""
    sysid_evals: int = 100
    """Optimizer evaluations per refit of the ``sim_sysid`` source."""
    synthetic_shares: dict[str, float] = field(default_factory=dict)
    """Weights of the synthetic sources within the synthetic part of each batch: ``model``, each of
    ``sources`` and ``generated:<generator>@<version>`` (pipeline.mixer.Mixer); a source left out weighs 1."""
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
    faults: FaultConfig = field(default_factory=FaultConfig)
    """Limits on numerical faults (skipped updates, model rollbacks) before a run stops."""


RESUMABLE_CHANGES = frozenset({"steps", "progress", "threads", "device", "run_dir", "checkpoint_every_s"})
"""Fields that may differ when a run directory is resumed (``steps`` extends a run; a moved run directory resumes)."""


def _positive(path: str, value: int, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{path}={value!r}: must be {'>= 0' if allow_zero else '> 0'}")


def _number(path: str, value: Any, low: float, high: float = math.inf, *, open_low: bool = False) -> None:
    """``value`` must be a finite number in ``[low, high]`` (``(low, high]`` with ``open_low``)."""
    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > low if open_low else value >= low)
        and value <= high
    )
    if not ok:
        bounds = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if high == math.inf else ']'}"
        raise ConfigError(f"{path}={value!r}: must be a finite number in {bounds}")


def _stacked_seeds(cfg: TrainConfig) -> None:
    seeds = cfg.stacked_seeds
    if not seeds:
        return
    if len(seeds) < 2 or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigError(f"stacked_seeds={seeds!r}: must be two or more different seeds >= 0 (empty: one run of seed)")
    if cfg.algo.model_based or cfg.sources:
        raise ConfigError(
            f"stacked_seeds={seeds!r}: only algo=sac without sources stacks seeds; algo={cfg.algo.name} "
            f"sources={cfg.sources} refresh synthetic sources, "
            "which runs one seed per process (run the seeds as separate jobs, e.g. synthgate sweep)"
        )
    if cfg.critic_context:
        raise ConfigError(f"stacked_seeds={seeds!r}: critics that read a context (critic_context=true) do not stack")


def _robot_settings(cfg: TrainConfig) -> None:
    defaults = robots.get(cfg.robot).defaults
    for key, value in cfg.robot_settings.items():
        want = type(defaults[key])
        if type(value) is not want and not (want is float and type(value) is int):
            raise ConfigError(f"robot_settings.{key}={value!r}: must be of type {want.__name__}")
        if want is int and value < (0 if key.endswith("_id") else 1):
            raise ConfigError(f"robot_settings.{key}={value!r}: must be >= {0 if key.endswith('_id') else 1}")


def validate(cfg: TrainConfig) -> None:
    """Checks every field before work starts.

    Raises:
        ConfigError: naming the field, the value and what is allowed.
    """
    _check_names_and_preset(cfg)
    from pipeline.policies import check_plant  # it reads TrainConfig

    check_plant(cfg)
    from pipeline.sources import check as check_sources  # it reads TrainConfig

    check_sources(cfg)
    _check_algo_fields(cfg)
    _check_data_and_targeting(cfg)
    _check_loop_and_sac(cfg)
    _check_numbers(cfg)
    _check_runtime(cfg)


def _check_names_and_preset(cfg: TrainConfig) -> None:
    """The robot and the algorithm exist, and no algo.* field contradicts the preset."""
    if cfg.robot not in robots.names():
        close = difflib.get_close_matches(cfg.robot, robots.names(), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"robot={cfg.robot!r}: unknown robot{hint}; valid robots: {', '.join(robots.names())}")
    if cfg.algo.name not in ALGORITHMS:
        raise ConfigError(f"algo.name={cfg.algo.name!r}: unknown algorithm; valid: {', '.join(sorted(ALGORITHMS))}")
    spec = ALGORITHMS[cfg.algo.name]
    for key in ("model_based", "target", "target_norm", "likelihood"):
        want = getattr(spec, key)
        got = cfg.algo.model.likelihood if key == "likelihood" else getattr(cfg.algo, key)
        key = "model.likelihood" if key == "likelihood" else key
        if (spec.model_based or key == "model_based") and got != want:
            match = [n for n, s in ALGORITHMS.items() if s.model_based and s.target == cfg.algo.target
                     and s.target_norm == cfg.algo.target_norm
                     and s.likelihood == cfg.algo.model.likelihood]  # fmt: skip
            raise ConfigError(
                f"algo.{key}={got!r} contradicts algo={cfg.algo.name} ({key}={want!r}); "
                f"choose the preset that means what you want: {', '.join(match) or ', '.join(ALGORITHMS)}"
            )


def _check_algo_fields(cfg: TrainConfig) -> None:
    """The model-based loop's and the world model's fields."""
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
        raise ConfigError(
            f"algo.model.weight_decay={m.weight_decay!r} has {len(m.weight_decay)} entries: "
            f"need algo.model.depth + 1 = {m.depth + 1}"
        )
    if m.likelihood not in ("gaussian_nll", "beta_nll"):
        raise ConfigError(f"algo.model.likelihood={m.likelihood!r}: valid: gaussian_nll, beta_nll")
    if m.holdout not in ("redraw", "fixed"):
        raise ConfigError(f"algo.model.holdout={m.holdout!r}; valid: redraw, fixed")
    if not 0.0 <= m.holdout_ratio < 1.0:
        raise ConfigError(f"algo.model.holdout_ratio={m.holdout_ratio!r}: must be in [0, 1)")


def _check_data_and_targeting(cfg: TrainConfig) -> None:
    """Scenarios, exposure, imported and synthetic data, context and targeted generation."""
    if not 0.0 <= cfg.exposure <= 1.0:
        raise ConfigError(f"exposure={cfg.exposure!r}: must be in [0, 1]")
    if cfg.scenario is not None and not isinstance(cfg.scenario.get("name"), str):
        raise ConfigError(f"scenario: {dict(cfg.scenario)!r} has no name; choose one with scenario=<name>")
    if cfg.exposure > 0 and not scenario_names(cfg):
        raise ConfigError(f"exposure={cfg.exposure!r} needs a scenario: scenarios=[...] or scenario=<name>")
    for i, ds in enumerate(cfg.import_datasets):
        if not Path(ds.path).is_dir():
            raise ConfigError(f"import_datasets[{i}].path={ds.path!r}: no such directory")
    if cfg.critic_context and not cfg.context:
        raise ConfigError("critic_context=true needs context=true (the buffers store no context otherwise)")
    if cfg.targeted:
        if not cfg.algo.model_based and not cfg.sources:
            raise ConfigError(f"targeted=true needs a source to generate with: a model-based algo (mbpo, ftfl...) "
                              f"or sources=[sim|sim_sysid|sim_residual], not algo={cfg.algo.name} alone")  # fmt: skip
        if not scenario_names(cfg):
            raise ConfigError("targeted=true needs a scenario to generate for: scenarios=[...] or scenario=<name>")
        if cfg.algo.model_based and not cfg.context:
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


def _check_loop_and_sac(cfg: TrainConfig) -> None:
    """The robot's settings' names, the loop's counts and SAC's hyperparameters."""
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
    _number("checkpoint_every_s", cfg.checkpoint_every_s, 0.0)
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
    _number("sac.anchor", cfg.sac.anchor, 0.0)
    if cfg.sac.anchor > 0 and not cfg.init_from:
        raise ConfigError(f"sac.anchor={cfg.sac.anchor!r}: anchors the actor to the starting policy; set init_from")
    if cfg.sac.anchor > 0 and cfg.stacked_seeds:
        raise ConfigError(f"sac.anchor={cfg.sac.anchor!r} with stacked_seeds: the stacked update has no anchor")
    if not cfg.sac.log_std_min < cfg.sac.log_std_max:
        raise ConfigError(
            f"sac.log_std_min={cfg.sac.log_std_min!r}, sac.log_std_max={cfg.sac.log_std_max!r}: min must be < max"
        )


def _check_numbers(cfg: TrainConfig) -> None:
    """The robot's settings' types, seed, run_dir, stacked seeds, and every float's range."""
    m = cfg.algo.model
    _robot_settings(cfg)
    if cfg.seed < 0:
        raise ConfigError(f"seed={cfg.seed!r}: must be >= 0")
    if not str(cfg.run_dir).strip():
        raise ConfigError(f"run_dir={cfg.run_dir!r}: must name a directory")
    _stacked_seeds(cfg)
    for name in ("lr_actor", "lr_critic", "lr_alpha", "init_alpha"):
        _number(f"sac.{name}", getattr(cfg.sac, name), 0.0, open_low=True)
    for name in ("log_std_min", "log_std_max"):
        _number(f"sac.{name}", getattr(cfg.sac, name), -math.inf)
    if cfg.sac.target_entropy is not None:
        _number("sac.target_entropy", cfg.sac.target_entropy, -math.inf)
    _number("algo.drop_range_factor", cfg.algo.drop_range_factor, 0.0)
    _number("algo.model.lr", m.lr, 0.0, open_low=True)
    for i, decay in enumerate(m.weight_decay):
        _number(f"algo.model.weight_decay[{i}]", decay, 0.0)
    _positive("algo.model.patience", m.patience, allow_zero=True)
    if m.stop_rule not in STOP_RULES:
        raise ConfigError(f"algo.model.stop_rule={m.stop_rule!r}: valid: {', '.join(STOP_RULES)}")
    if not (m.max_retrain_s > 0):  # inf is allowed: no wall-clock cap
        raise ConfigError(f"algo.model.max_retrain_s={m.max_retrain_s!r}: must be > 0 (inf: no cap)")
    _number("algo.model.logvar_penalty", m.logvar_penalty, 0.0)
    _number("algo.model.beta", m.beta, 0.0, 1.0)
    _number("underestimation_ratio", cfg.underestimation_ratio, -math.inf)


def _check_runtime(cfg: TrainConfig) -> None:
    """Fault limits and the device."""
    _positive("faults.max_consecutive_skips", cfg.faults.max_consecutive_skips)
    _positive("faults.max_consecutive_rollbacks", cfg.faults.max_consecutive_rollbacks)
    factor = cfg.faults.model_divergence_factor
    if not (factor == 0 or (math.isfinite(factor) and factor > 1)):
        raise ConfigError(f"faults.model_divergence_factor={factor!r}: must be 0 (off) or a finite number > 1")
    dev = cfg.device
    if not (dev in ("auto", "cpu", "cuda") or (dev.startswith("cuda:") and dev[5:].isdigit())):
        raise ConfigError(f"device={dev!r}: valid: auto, cpu, cuda, cuda:N")


def seed_config(cfg: TrainConfig, seed: int) -> TrainConfig:
    """The config of seed ``seed`` of a stacked run (``stacked_seeds``): the lone run ``seed=seed``
    would have, in ``<run_dir>/seed-<seed>``."""
    return dataclasses.replace(cfg, seed=seed, run_dir=str(Path(cfg.run_dir) / f"seed-{seed}"), stacked_seeds=[])


def scenario_names(cfg: TrainConfig) -> list[str]:
    """Every scenario the run uses, by name: ``scenarios`` (a file path by its stem, the name its
    file must carry), then the Hydra group's ``scenario`` (naming one in both is refused by
    :func:`scenarios.library.resolve`)."""
    names = [spec.entry_name(n) for n in cfg.scenarios]  # a scenario file of the user's: its stem
    if cfg.scenario is not None and cfg.scenario.get("name") not in names:
        names.append(str(cfg.scenario.get("name")))
    return names


def sac_hyper(cfg: SACConfig, action_dim: int) -> SACHyper:
    """The frozen values the SAC update reads."""
    target = -float(action_dim) if cfg.target_entropy is None else float(cfg.target_entropy)
    return SACHyper(
        gamma=cfg.gamma,
        tau=cfg.tau,
        target_entropy=target,
        log_std_min=cfg.log_std_min,
        log_std_max=cfg.log_std_max,
        anchor=cfg.anchor,
    )


def model_hyper(cfg: AlgoConfig) -> ModelHyper:
    """The frozen world-model settings."""
    m = cfg.model
    return ModelHyper(
        members=m.members, elites=m.elites, hidden=m.hidden, depth=m.depth, weight_decay=tuple(m.weight_decay),
        lr=m.lr, batch_size=m.batch_size, holdout_ratio=m.holdout_ratio, max_holdout=m.max_holdout,
        holdout=m.holdout, patience=m.patience, max_epochs=m.max_epochs, max_retrain_s=m.max_retrain_s,
        logvar_penalty=m.logvar_penalty, target=cfg.target, target_norm=cfg.target_norm, likelihood=m.likelihood,
        beta=m.beta, stop_rule=m.stop_rule,
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


def effective_real_ratio(cfg: TrainConfig) -> float:
    """The real share of every agent batch: ``algo.real_ratio`` when the run has a synthetic source
    (a model-based preset, ``sources``, or an outside generator's import), else 1 (SAC on real data only)."""
    generated = any(ds.synthetic for ds in cfg.import_datasets)
    return cfg.algo.real_ratio if cfg.algo.model_based or cfg.sources or generated else 1.0


def context_dim(cfg: TrainConfig) -> int:
    """Width of the perturbation context the run stores and models (0 unless ``context=true``)."""
    return robots.context_layout(cfg.robot).size if cfg.context else 0


def stream_seed(seed: int, stream: int, index: int) -> int:
    """A 32-bit seed for item ``index`` of random stream ``stream`` of a run (or search) seeded ``seed``."""
    return int(np.random.SeedSequence([seed, stream, index]).generate_state(1)[0])
