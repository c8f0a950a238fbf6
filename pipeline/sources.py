"""Synthetic sources: every producer of synthetic transitions behind one interface, in one registry.

A source owns a pool (a :class:`~pipeline.buffer.ReplayBuffer` that shares the real buffer's
origin table, so the mixer can draw from it) and does three things (docs/sim_to_real.md, sources):

* ``refresh``: fit or refit itself on the run's real transitions (the world model retrains, the
  system-identified sim refits its parameters, the corrected sim refits its correction);
* ``generate``: roll out from real start states under the current policy, nominal and, for a
  targeted run, under each scenario (the scenario as a model context or as physics), and store what
  it made in its pool with provenance, each origin booked in the ledger;
* ``state_dict`` / ``load_state_dict``: everything it needs to resume exactly.

The registry (:data:`SOURCES`) maps a name to the class; a run's sources are the world model
(``model``, with a model-based ``algo``), the sim-stepping ones the config lists (``sources=[sim,
sim_sysid, sim_residual]``) and one ``generated:<generator>@<version>`` per outside generator's
import (filled once, never refreshed). Their origins: ``model/<version>``, ``sim/<robot>``,
``sim_sysid/<parameters hash>``, ``sim_residual/<version>`` and ``generated:<g>@<v>``, each with
``:<scenario>`` for targeted rows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch

import robots
from pipeline import diagnostics
from pipeline.buffer import ReplayBuffer, Source
from pipeline.config import ConfigError, TrainConfig, model_hyper, rollout_length, stream_seed
from pipeline.faults import MODEL_SKIPPED, NO_ROLLOUT
from pipeline.interchange import GENERATED
from pipeline.ledger import Ledger
from pipeline.model_env import ModelEnv, Rollout, rollout
from pipeline.sim_env import SimEnv
from pipeline.sim_residual import SYSID_FIELDS, SimResidual, fit_sysid, sysid_model
from pipeline.targeting import Targeter, split_starts
from pipeline.world_model import EnsembleDynamics, ModelHyper, fit, make_optimizer

MODEL_STREAM = 3
"""The world model's random stream (``pipeline.train`` numbers the others)."""
SIM_STREAM = 5
"""The sim-stepping sources' random stream (index: the source's place in :data:`SIM_SOURCES`)."""


class SyntheticSource:
    """The interface: a pool, and ``refresh`` / ``generate`` / ``state_dict`` (see the module docstring).

    Args:
        name: the mixer's and ledger's name for it.
        pool: its pool (sharing the real buffer's origin table).
        seed: the seed stored with every transition it makes (their provenance).
    """

    kind: ClassVar[str] = ""
    refreshes: ClassVar[bool] = True
    """False for a source filled once (an outside generator's import)."""

    def __init__(self, name: str, pool: ReplayBuffer, seed: int) -> None:
        self.name, self.pool, self.seed = name, pool, seed

    @property
    def ready(self) -> bool:
        """Whether it can generate (a world model whose first retrain was rolled back cannot)."""
        return True

    def refresh(self, state: Any, cfg: TrainConfig) -> dict[str, Any]:
        """Fits itself on ``state.buffer``'s real transitions; returns figures for the log (may be empty)."""
        return {}

    def generate(
        self, state: Any, cfg: TrainConfig, targeter: Targeter | None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Rolls out and stores; returns the nominal rollout's figures and one line per scenario."""
        return {}, []

    def store(self, ledger: Ledger, origin: str, result: Rollout, ctx: torch.Tensor | None) -> None:
        """Stores a rollout's transitions (with ``ctx``, one row each, or none) and ledgers them."""
        n = result.obs.shape[0]
        for begin in range(0, n, self.pool.capacity):  # a rollout larger than the pool keeps its newest part
            end = min(begin + self.pool.capacity, n)
            evicted = self.pool.add(
                result.obs[begin:end], result.act[begin:end], result.rew[begin:end], result.next_obs[begin:end],
                result.terminated[begin:end], source=Source.SYNTHETIC, origin=origin, seed=self.seed,
                rollout_step=result.rollout_step[begin:end], ctx=ctx[begin:end] if ctx is not None else None,
            )  # fmt: skip
            ledger.on_stored(Source.SYNTHETIC, origin, end - begin, evicted)

    def state_dict(self) -> dict[str, Any]:
        return {"pool": self.pool.state_dict()}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.pool.load_state_dict(saved["pool"])


def _starts(cfg: TrainConfig, step: int, targeter: Targeter | None) -> tuple[int, int, list[int]]:
    """The rollout length, the nominal starts and each scenario's starts for one phase."""
    k = rollout_length(cfg.algo.rollout_schedule, step)
    n = cfg.algo.rollouts_per_step * cfg.algo.retrain_every
    if cfg.targeted and targeter is not None:
        n, per = split_starts(n, cfg.targeted_share, len(targeter.scenarios))
        return k, n, per
    return k, n, []


def _pool(cfg: TrainConfig, real: ReplayBuffer) -> ReplayBuffer:
    k_max = max(cfg.algo.rollout_schedule[2], cfg.algo.rollout_schedule[3])
    capacity = cfg.algo.rollouts_per_step * 1000 * k_max * cfg.algo.model_retain_epochs  # MBPO's pool size
    return ReplayBuffer(real.obs.shape[1], real.act.shape[1], capacity, real.device, real.origins, real.ctx_dim)


def _line(scenario: str, origin: str, result: Rollout, starts: int, **extra: Any) -> dict[str, Any]:
    return {"scenario": scenario, "origin": origin, **result.counts, "starts": starts,
            "stored": int(result.obs.shape[0]), **extra}  # fmt: skip


class ModelSource(SyntheticSource):
    """The run's learned world model (``algo=mbpo|ftfl|...``): MBPO's branched rollouts, and the
    targeted generator's for a targeted run (:mod:`scenarios.generator`)."""

    kind = "model"

    def __init__(self, cfg: TrainConfig, real: ReplayBuffer, device: torch.device) -> None:
        super().__init__(self.kind, _pool(cfg, real), stream_seed(cfg.seed, MODEL_STREAM, 2))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(stream_seed(cfg.seed, MODEL_STREAM, 0))
            self.model = EnsembleDynamics(real.obs.shape[1], real.act.shape[1], model_hyper(cfg.algo),
                                          real.ctx_dim).to(device)  # fmt: skip
        self.model_opt = make_optimizer(self.model)
        self.generator = torch.Generator(device=device).manual_seed(stream_seed(cfg.seed, MODEL_STREAM, 1))
        self.model_version, self.retrains = "", 0
        self.record, self.run_seed = robots.get(cfg.robot), cfg.seed

    @property
    def ready(self) -> bool:
        return bool(self.model_version)

    def refresh(self, state: Any, cfg: TrainConfig) -> dict[str, Any]:
        """Refits the model (warm start) on every real transition, guarded by the fault log (a
        diverged model is rolled back); returns the paper's diagnostics."""
        return dict(state.faults.guard_retrain(state, self, lambda: self._retrain(state.buffer, cfg)))

    def _retrain(self, buffer: ReplayBuffer, cfg: TrainConfig) -> dict[str, Any]:
        n, b = buffer.size, buffer
        obs, act, rew, nxt = b.obs[:n], b.act[:n], b.rew[:n], b.next_obs[:n]
        ctx = b.ctx[:n] if self.model.ctx_dim else None
        report = fit(self.model, self.model_opt, obs, act, rew, nxt, self.generator, ctx)
        self.model_version, self.retrains = report.version, self.retrains + 1
        self.seed = stream_seed(cfg.seed, MODEL_STREAM, 2 + self.retrains)
        hold = report.holdout
        out: dict[str, Any] = {
            "model/epochs": float(report.epochs),
            "model/retrain_s": report.seconds,
            "model/holdout_mse_elites": float(np.mean(sorted(report.holdout_mse)[: self.model.hp.elites])),
            **{k: v for k, v in report.metrics.items() if k != "model/nll"},
            **diagnostics.target_scales(self.model, obs[hold], rew[hold], nxt[hold]),
            MODEL_SKIPPED: float(report.skipped_steps),
        }
        if hold.numel() > 1:
            c = ctx[hold] if ctx is not None else None
            out.update(diagnostics.reward_metrics(self.model, obs[hold], act[hold], rew[hold], c))
            out["diag/disagreement"] = diagnostics.disagreement(self.model, obs[hold], act[hold], c)
        out.update(diagnostics.kstep_errors(self.model, buffer, cfg.kstep, 512, self.generator))
        out["version"], out["stopped_by"] = self.model_version, report.stopped_by
        return out

    def generate(
        self, state: Any, cfg: TrainConfig, targeter: Targeter | None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Branched rollouts from uniformly drawn real states; with ``targeted=true``, the targeted
        generator's rollouts per scenario first (origin ``model/<version>:<scenario>``)."""
        if not self.ready:  # the first retrain was rolled back: no good model yet
            return dict(NO_ROLLOUT), []
        k, n_starts, per_scenario = _starts(cfg, state.step, targeter)
        lines: list[dict[str, Any]] = []
        real, gen = state.buffer, self.generator
        if per_scenario and targeter is not None:
            for made in targeter(self.model, state.agent.actor, real, per_scenario, k, gen):
                origin = f"model/{self.model_version}:{made.scenario}"
                self.store(state.ledger, origin, made.rollout, made.rollout.ctx if made.rollout.ctx.shape[-1] else None)
                state.ledger.on_dropped(origin, made.transitions_dropped)
                lines.append(_line(made.scenario, origin, made.rollout, made.starts,
                                   transitions_dropped=made.transitions_dropped,
                                   rollouts_dropped=made.rollouts_dropped, **made.stats))  # fmt: skip
        idx = torch.randint(0, real.size, (n_starts,), generator=gen, device=gen.device)
        env = ModelEnv(self.model, self.record.termination, cfg.algo.drop_range_factor)
        result = rollout(env, state.agent.actor, real.obs[idx.to(real.device)], k, gen)
        self.store(state.ledger, f"model/{self.model_version}", result, None)
        return {"k": k, "version": self.model_version, **result.counts, "disagreement": result.disagreement}, lines

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "model": self.model.state_dict(), "model_opt": self.model_opt.state_dict(),
                "generator": self.generator.get_state(), "version": self.model_version, "retrains": self.retrains,
                "seed": self.seed}  # fmt: skip

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        from pipeline import checkpoint

        super().load_state_dict(saved)
        self.model.load_state_dict(saved["model"])
        checkpoint.load_optimizer(self.model_opt, saved["model_opt"])
        self.generator.set_state(saved["generator"])
        self.model_version, self.retrains = saved["version"], saved["retrains"]
        self.seed = saved.get("seed", stream_seed(self.run_seed, MODEL_STREAM, 2 + self.retrains))  # v1: derived


class GeneratedSource(SyntheticSource):
    """An outside generator's imported episodes (``generated:<generator>@<version>``): filled once
    when the run starts, never refreshed, never evicted."""

    kind = "generated"
    refreshes = False


class SimSource(SyntheticSource):
    """The sim stepped from real states (:class:`pipeline.sim_env.SimEnv`): ``sim`` is the nominal
    sim, uncorrected (targeted rollouts under the scenarios' physics are domain randomization,
    Peng et al. 2018); the subclasses identify its parameters or learn its correction."""

    kind = "sim"

    def __init__(self, cfg: TrainConfig, real: ReplayBuffer, device: torch.device, index: int) -> None:
        super().__init__(self.kind, _pool(cfg, real), stream_seed(cfg.seed, SIM_STREAM, 100 + index))
        self.env = SimEnv(cfg.robot, cfg.algo.drop_range_factor, threads=max(1, cfg.threads))
        self.generator = torch.Generator(device=device).manual_seed(stream_seed(cfg.seed, SIM_STREAM, index))
        self.robot = cfg.robot

    def origin(self) -> str:
        return f"sim/{self.robot}"

    def refresh(self, state: Any, cfg: TrainConfig) -> dict[str, Any]:
        """The sim learns nothing; it takes the real states' range for its out-of-range drop."""
        self.env.set_range(state.buffer.obs[: state.buffer.size])
        return {}

    def generate(
        self, state: Any, cfg: TrainConfig, targeter: Targeter | None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Rollouts from uniformly drawn real states in the sim; with ``targeted=true``, each
        scenario's first, from the targeter's starts under its drawn physics."""
        k, n_starts, per_scenario = _starts(cfg, state.step, targeter)
        real, gen, actor, lines = state.buffer, self.generator, state.agent.actor, []
        if per_scenario and targeter is not None:
            for made in targeter.physics(real, per_scenario, gen):
                origin = f"{self.origin()}:{made.scenario}"
                index = self.env.use(made.active)
                draw = torch.as_tensor(index[made.draw], dtype=torch.float32, device=real.device)[:, None]
                result = rollout(self.env, actor, made.starts, k, gen, draw)
                ctx = torch.as_tensor(made.ctx, device=real.device) if real.ctx_dim else None
                self.store(state.ledger, origin, result, ctx[result.start] if ctx is not None else None)
                lines.append(_line(made.scenario, origin, result, int(made.starts.shape[0]), **made.stats))
        self.env.use([])
        idx = torch.randint(0, real.size, (n_starts,), generator=gen, device=gen.device)
        result = rollout(self.env, actor, real.obs[idx.to(real.device)], k, gen)
        zeros = torch.zeros((result.obs.shape[0], real.ctx_dim), device=real.device) if real.ctx_dim else None
        self.store(state.ledger, self.origin(), result, zeros)
        return {"k": k, **result.counts, "disagreement": result.disagreement}, lines

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "generator": self.generator.get_state(), "env": self.env.state_dict()}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        super().load_state_dict(saved)
        self.generator.set_state(saved["generator"])
        self.env.load_state_dict(saved["env"])


class SysidSource(SimSource):
    """The system-identified sim (``sim_sysid``): at each refresh the gap profile's parametric
    fields are refitted to the real transitions by one-step error (:func:`pipeline.sim_residual.fit_sysid`,
    scipy's Powell, warm-started from the last fit); it cannot see the unmodeled effects."""

    kind = "sim_sysid"

    def __init__(self, cfg: TrainConfig, real: ReplayBuffer, device: torch.device, index: int) -> None:
        super().__init__(cfg, real, device, index)
        self.name = self.kind
        self.scales: list[float] = []

    def origin(self) -> str:
        digest = hashlib.sha256(json.dumps([round(s, 6) for s in self.scales]).encode()).hexdigest()[:8]
        return f"sim_sysid/{digest}"

    def refresh(self, state: Any, cfg: TrainConfig) -> dict[str, Any]:
        super().refresh(state, cfg)
        b, n = state.buffer, state.buffer.size
        fitted = fit_sysid(cfg.robot, b.obs[:n].cpu().numpy(), b.act[:n].cpu().numpy(), b.next_obs[:n].cpu().numpy(),
                           max_evals=cfg.sysid_evals, initial=self.scales or None)  # fmt: skip
        self.scales = [fitted.scales[f] for f, _ in SYSID_FIELDS]
        self.env.set_base(fitted.model)
        return {"sim_sysid/error_before": fitted.error_before, "sim_sysid/error_after": fitted.error_after,
                "sim_sysid/evaluations": float(fitted.evaluations), "sim_sysid/fit_s": fitted.seconds,
                **{f"sim_sysid/{k}": v for k, v in fitted.scales.items()},
                "version": self.origin().split("/")[1]}  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "scales": list(self.scales)}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        super().load_state_dict(saved)
        self.scales = list(saved["scales"])
        if self.scales:
            self.env.set_base(sysid_model(self.robot, self.scales))


def residual_hyper(cfg: TrainConfig) -> ModelHyper:
    """The correction ensemble's settings: ``algo.model``'s and ``algo``'s switches, target ``residual``."""
    return dataclasses.replace(model_hyper(cfg.algo), target="residual")


class ResidualSource(SimSource):
    """The corrected sim (``sim_residual``): the sim's step plus a correction the project's
    ensemble learns from the real transitions (:class:`pipeline.sim_residual.SimResidual`, target
    ``residual``: the correction, the variant that won in docs/sim_to_real.md; normalization and
    likelihood as ``algo``'s). Real rows are fitted against the nominal sim."""

    kind = "sim_residual"

    def __init__(self, cfg: TrainConfig, real: ReplayBuffer, device: torch.device, index: int) -> None:
        super().__init__(cfg, real, device, index)
        self.name = self.kind
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(stream_seed(cfg.seed, SIM_STREAM, 50 + index))
            self.correction = SimResidual(cfg.robot, residual_hyper(cfg), threads=max(1, cfg.threads))
        self.env.correction = self.correction

    @property
    def ready(self) -> bool:
        return bool(self.version)

    @property
    def version(self) -> str:
        return self.correction.version

    def origin(self) -> str:
        return f"sim_residual/{self.version}"

    def refresh(self, state: Any, cfg: TrainConfig) -> dict[str, Any]:
        super().refresh(state, cfg)
        b, n = state.buffer, state.buffer.size
        report = self.correction.fit(b.obs[:n].cpu().numpy(), b.act[:n].cpu().numpy(), b.rew[:n].cpu().numpy(),
                                     b.next_obs[:n].cpu().numpy(), self.generator)  # fmt: skip
        elites = sorted(report.holdout_mse)[: self.correction.hp.elites]
        return {"sim_residual/epochs": float(report.epochs), "sim_residual/retrain_s": report.seconds,
                "sim_residual/holdout_mse_elites": float(np.mean(elites)), "version": self.version,
                "stopped_by": report.stopped_by}  # fmt: skip

    def generate(
        self, state: Any, cfg: TrainConfig, targeter: Targeter | None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        if not self.ready:
            return dict(NO_ROLLOUT), []
        roll, lines = super().generate(state, cfg, targeter)
        return {**roll, "version": self.version}, lines

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "correction": self.correction.state_dict()}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        super().load_state_dict(saved)
        self.correction.load_state_dict(saved["correction"])


class OracleSource(SimSource):
    """The real plant itself stepped from real states (``oracle``; studies only): the run's gap
    profile, its unmodeled terms and its sensing noise included (:class:`robots.sim_step.PlantStepper`),
    under each scenario's drawn physics for targeted rows. No user has this source: a real plant
    cannot be reset to a chosen state. It is what perfect synthetic data would be, the ceiling a
    study measures the other sources against, from the same starts and in the same amount."""

    kind = "oracle"

    def __init__(self, cfg: TrainConfig, real: ReplayBuffer, device: torch.device, index: int) -> None:
        from robots.sim_step import PlantStepper

        super().__init__(cfg, real, device, index)
        self.name = self.kind
        self.plant = PlantStepper(cfg.robot, cfg.gap, stream_seed(cfg.seed, SIM_STREAM, 200 + index))
        self.env.stepper = self.plant
        self.env.set_base(self.plant.model)
        self.gap = self.plant.profile.tag

    def origin(self) -> str:
        return f"oracle/{self.robot}[{self.gap}]"

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "rng": self.plant.rng.bit_generator.state}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        super().load_state_dict(saved)
        self.plant.rng.bit_generator.state = saved["rng"]


SOURCES: dict[str, type[SyntheticSource]] = {
    cls.kind: cls for cls in (ModelSource, SimSource, SysidSource, ResidualSource, OracleSource, GeneratedSource)
}
"""The registry: every kind of synthetic source, by name."""
SIM_SOURCES = ("sim", "sim_sysid", "sim_residual", "oracle")
"""The kinds a config's ``sources`` may list (the world model comes with ``algo``, generated pools with imports)."""


def check(cfg: TrainConfig) -> None:
    """``sources`` lists sim-stepping sources this robot and plant can have; ``synthetic_shares``
    names sources this run has, with positive weights; a generated import's declared origin has the
    ``generated:<generator>@<version>`` form.

    Raises:
        ConfigError: naming the field and what is allowed.
    """
    from robots.sim_step import SimStepError
    from robots.sim_step import check as check_sim

    for name in cfg.sources:
        if name not in SIM_SOURCES:
            raise ConfigError(f"sources: {name!r} is not a source that steps the sim; valid: {', '.join(SIM_SOURCES)} "
                              "(the world model comes with a model-based algo, generated pools with "
                              "import_datasets)")  # fmt: skip
    if len(set(cfg.sources)) != len(cfg.sources):
        raise ConfigError(f"sources={cfg.sources}: a source is listed twice")
    if cfg.sources:
        if cfg.plant != "real":
            raise ConfigError(f"sources={cfg.sources} with plant={cfg.plant}: sources learn from and start at real "
                              "transitions; a sim-trained run has none")  # fmt: skip
        try:
            check_sim(cfg.robot)
        except SimStepError as err:
            raise ConfigError(f"sources={cfg.sources}: {err}") from None
    _positive_evals(cfg.sysid_evals)
    for i, ds in enumerate(cfg.import_datasets):
        if ds.origin is not None and not ds.synthetic:
            raise ConfigError(f"import_datasets[{i}].origin={ds.origin!r} needs synthetic=true (a real log's origin "
                              "is its path)")  # fmt: skip
        if ds.origin is not None and not GENERATED.fullmatch(ds.origin):
            raise ConfigError(f"import_datasets[{i}].origin={ds.origin!r}: must be generated:<generator>@<version>")
    for name, weight in cfg.synthetic_shares.items():
        if name == "model" and not cfg.algo.model_based:
            raise ConfigError(f"synthetic_shares.model: algo={cfg.algo.name} has no world model")
        if name in SIM_SOURCES and name not in cfg.sources:
            raise ConfigError(f"synthetic_shares.{name}: not in this run's sources={cfg.sources}")
        if name != "model" and name not in SIM_SOURCES and not GENERATED.fullmatch(name):
            raise ConfigError(f"synthetic_shares: {name!r} is not a source; valid: model, "
                              f"{', '.join(SIM_SOURCES)}, generated:<generator>@<version>")  # fmt: skip
        if not weight > 0:
            raise ConfigError(f"synthetic_shares[{name!r}]={weight!r}: must be > 0 (leave a source out to weigh 1)")


def _positive_evals(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"sysid_evals={n!r}: must be an integer >= 1")


def build(cfg: TrainConfig, real: ReplayBuffer, device: torch.device) -> dict[str, SyntheticSource]:
    """The run's refreshed sources, in mixing order: the world model (model-based ``algo``), then ``cfg.sources``."""
    out: dict[str, SyntheticSource] = {}
    if cfg.algo.model_based:
        out["model"] = ModelSource(cfg, real, device)
    for name in cfg.sources:
        cls: Callable[..., SyntheticSource] = SOURCES[name]
        out[name] = cls(cfg, real, device, SIM_SOURCES.index(name))
    return out


def upgrade(payload: dict[str, Any]) -> dict[str, Any]:
    """A version-1 checkpoint (the world model's and generators' pools as fields of the run) in
    version 2's layout (one entry per synthetic source), so runs written before sources resume and
    read; any other payload as it is."""
    if payload.get("version") != 1:
        return payload
    out = {k: v for k, v in payload.items() if k not in ("retrains", "model_version", "synthetic", "model",
                                                         "model_opt", "gen_model", "generated")}  # fmt: skip
    out["version"], out["sources"] = 2, {}
    if payload.get("model") is not None:
        out["sources"]["model"] = {"pool": payload["synthetic"], "model": payload["model"],
                                   "model_opt": payload["model_opt"], "generator": payload["gen_model"],
                                   "version": payload["model_version"], "retrains": payload["retrains"]}  # fmt: skip
    for name, pool in payload.get("generated", {}).items():
        out["sources"][name] = {"pool": pool}
    return out


def saved_env(cfg: TrainConfig, payload: dict[str, Any]) -> tuple[str, SimEnv] | None:
    """The first sim-stepping source of a run (``cfg.sources``) as its checkpoint left it, as a
    :class:`~pipeline.sim_env.SimEnv` (what the synthetic panel runs through); None: it has none."""
    if not cfg.sources:
        return None
    name = cfg.sources[0]
    saved = upgrade(payload)["sources"][name]
    env = SimEnv(cfg.robot, cfg.algo.drop_range_factor)
    env.load_state_dict(saved["env"])
    if name == "oracle":  # the real plant; validation refuses a synthetic panel through it
        from robots.sim_step import PlantStepper

        env.stepper = PlantStepper(cfg.robot, cfg.gap)
        env.set_base(env.stepper.model)
    if name == "sim_sysid" and saved["scales"]:
        env.set_base(sysid_model(cfg.robot, saved["scales"]))
    if name == "sim_residual":
        env.correction = SimResidual(cfg.robot, residual_hyper(cfg))
        env.correction.load_state_dict(saved["correction"])
    return name, env


def pools(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A checkpoint's synthetic pools (their saved states) by source name."""
    return {name: saved["pool"] for name, saved in upgrade(payload)["sources"].items()}


def generated(name: str, pool: ReplayBuffer) -> GeneratedSource:
    """An outside generator's source around its imported pool."""
    return GeneratedSource(name, pool, 0)


def restore_generated(saved: dict[str, Any], real: ReplayBuffer) -> GeneratedSource:
    pool = ReplayBuffer(saved["pool"]["obs"].shape[1], saved["pool"]["act"].shape[1], saved["pool"]["capacity"],
                        real.device, real.origins, real.ctx_dim)  # fmt: skip
    out = generated("", pool)
    out.load_state_dict(saved)
    return out
