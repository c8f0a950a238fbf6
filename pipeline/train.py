"""The training loop, phase by phase: collect a real step; every ``algo.retrain_every`` steps each
synthetic source refreshes on the real data and rolls out (:mod:`pipeline.sources`: the world model,
the sim-stepping sources); update the agent on the mixer's batches; evaluate; checkpoint.
``algo=sac`` without ``sources`` has no source phase; the model-based presets (``mbpo``, ``ftfl``
and the two single-fix ablations) are MBPO (Janner et al., 2019) with the world model's switches
set by the preset. What the run holds is :mod:`pipeline.run_state`; its files, :mod:`pipeline.runlog`.

Stopping: SIGINT (Ctrl-C) and SIGTERM finish the current env step, checkpoint it and raise
:class:`Interrupted`; a second Ctrl-C stops at once. Checkpoints are also written every
``checkpoint_every_s`` seconds of wall-clock.

Exact resumption: a checkpoint holds the agent, optimizers, buffer, every RNG state and the
counters. The plant's mid-episode state is rebuilt by resetting it with the episode's seed and
replaying the episode's actions (MuJoCo is deterministic on one machine); the rebuilt
observation is compared with the saved one, so a plant that does not reproduce is an error,
not a silent divergence.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

import robots
from pipeline import checkpoint, diagnostics, policies, runfiles, sources
from pipeline.buffer import Batch, Source
from pipeline.config import (
    ConfigError,
    TrainConfig,
    effective_real_ratio,
    sac_hyper,
    scenario_names,
    stream_seed,
    validate,
)
from pipeline.executor import Stopped
from pipeline.interchange import import_dataset, import_generated
from pipeline.ledger import append_event
from pipeline.mixer import MODEL, Mixer
from pipeline.plants import TRAIN_STREAM as _TRAIN_STREAM
from pipeline.plants import Plants
from pipeline.progress import progress_bar
from pipeline.run_state import RunState, new_state
from pipeline.runlog import RunLog, Window, ledger_summary, prepare_run_dir
from pipeline.sac import SACHyper, sac_update
from pipeline.targeting import Targeter
from robots.perturbations import Perturbation

log = logging.getLogger("synthgate.train")
_EVAL_STREAM = 1  # pipeline.plants numbers 0 (training episodes) and 4, run_state 2, pipeline.sources 3 and 5


class Interrupted(Stopped):
    """A run stopped on SIGINT or SIGTERM after finishing its env step ``step`` and checkpointing it."""

    def __init__(self, signum: int, step: int, checkpoints: Sequence[Path]) -> None:
        self.step, self.checkpoints = step, list(checkpoints)
        where = ", ".join(str(c) for c in self.checkpoints)
        super().__init__(signum, f"{signal.Signals(signum).name} at step {step}: checkpointed to {where}; "
                                 "run the same command to resume")  # fmt: skip

    def __reduce__(self) -> tuple[Any, ...]:  # a pool worker's run stopped: the parent gets it whole
        return (type(self), (self.signum, self.step, self.checkpoints))


class StopRequest:
    """While entered (in the main thread), SIGINT and SIGTERM ask the training loop to stop after its
    current env step (:attr:`signum` is set); a second SIGINT stops at once (``KeyboardInterrupt``)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum
        log.warning("%s: stopping after this step and checkpointing it (Ctrl-C again stops now, losing the work "
                    "since the last checkpoint)", signal.Signals(signum).name)  # fmt: skip


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; anything else is taken as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r}: CUDA is not available on this machine; use device=cpu or auto")
    return torch.device(name)


# --- phases -------------------------------------------------------------------------------


def choose_action(state: RunState, cfg: TrainConfig, act_dim: int) -> np.ndarray:
    """Uniform random before ``learning_starts`` (unless the run started from a policy: ``init_from``),
    then a sample from the policy."""
    if state.step < cfg.learning_starts and not cfg.init_from:
        return state.np_rng.uniform(-1.0, 1.0, act_dim).astype(np.float32)
    assert state.obs is not None
    device = state.buffer.device
    with torch.inference_mode():
        obs = torch.as_tensor(state.obs, device=device).unsqueeze(0)
        eps = torch.randn((1, act_dim), generator=state.gen_act, device=state.gen_act.device).to(device)
        act, _ = state.agent.actor.sample(obs, eps)
    return act.squeeze(0).cpu().numpy()


def collect_real_step(
    state: RunState,
    plants: Plants,
    cfg: TrainConfig,
    act_dim: int,
    on_episode: Callable[[int, float], None],
    act: np.ndarray | None = None,
) -> None:
    """Steps the plant once and stores the transition as real (as ``sim`` with ``plant=sim``), with its
    provenance (the origin names the scenario when the episode runs under one). ``act`` is the action when the caller
    chose it (stacked seeds act for all seeds at once); None: :func:`choose_action`."""
    if act is None:
        act = choose_action(state, cfg, act_dim)
    next_obs, reward, terminated, truncated, _ = plants.env(state.episode).step(act)
    origin = plants.origin(state.episode)
    ctx = plants.context(state.episode, robots.context_layout(cfg.robot)) if state.buffer.ctx_dim else None
    evicted = state.buffer.add(
        state.obs,  # type: ignore[arg-type]
        act,
        float(reward),
        next_obs,
        terminated,
        source=plants.source,
        origin=origin,
        seed=stream_seed(cfg.seed, _TRAIN_STREAM, state.episode),
        ctx=ctx,
    )
    state.ledger.on_stored(plants.source, origin, 1, evicted)
    state.step += 1
    state.episode_actions.append(act)
    state.episode_return += float(reward)
    if terminated or truncated:
        on_episode(state.step, state.episode_return)
        state.episode += 1
        state.obs = plants.reset(state.episode)
        state.episode_actions, state.episode_return = [], 0.0
    else:
        state.obs = next_obs


def import_all(state: RunState, cfg: TrainConfig) -> None:
    """Loads ``cfg.import_datasets`` into a new run: real logs into the real buffer, an outside
    generator's episodes into that generator's own pool; the ledger books each origin."""
    for ds in cfg.import_datasets:
        if ds.synthetic:
            origin, pool, added = import_generated(ds, cfg.robot, state.buffer.origins, state.buffer.device,
                                                   state.buffer.ctx_dim)  # fmt: skip
            if origin in state.sources:
                raise ConfigError(f"import_datasets: two datasets declare {origin}; give each generator version once")
            state.sources[origin] = sources.generated(origin, pool)
        else:
            added = import_dataset(ds, cfg.robot, state.buffer)
        source = Source.SYNTHETIC if ds.synthetic else Source.REAL
        for name, n in added.items():
            state.ledger.on_stored(source, name, n, Counter())
        log.info("imported %d %s transitions from %s", sum(added.values()), source.name.lower(), ds.path)
    unknown = sorted(set(cfg.synthetic_shares) - set(state.pools()))
    if unknown:
        raise ConfigError(f"synthetic_shares names {unknown}, but this run's synthetic sources are "
                          f"{sorted(state.pools())}")  # fmt: skip


def update_agent(
    state: RunState, cfg: TrainConfig, hp: SACHyper, mixer: Mixer, totals: dict[str, torch.Tensor]
) -> None:
    """``algo.utd`` SAC gradient steps on batches the mixer draws (all real for ``algo=sac``)."""
    for _ in range(cfg.algo.utd):
        batch = mixer.sample(state.buffer, state.pools(), state.gen_update)
        count_update(state, batch, sac_update(state.agent, batch, state.gen_update, hp), totals)


def count_update(
    state: RunState, batch: Batch, metrics: dict[str, torch.Tensor], totals: dict[str, torch.Tensor]
) -> None:
    """Books one agent update on ``batch``: the fault log sees it first; an update it reports as
    skipped (non-finite loss) is counted there only, any other goes into the ledger, the update
    count and the window's metric sums."""
    if not state.faults.agent_step(metrics, state):
        return
    share = state.ledger.on_batch(batch.source, batch.origin, state.buffer.origins)
    metrics["ledger/batch_synthetic_share"] = torch.tensor(share)
    state.updates += 1
    accumulate(totals, metrics)


def accumulate(totals: dict[str, torch.Tensor], metrics: dict[str, torch.Tensor]) -> None:
    """Adds one update's metrics into the window's running sums (``totals`` owns its tensors).

    When the keys are the ones already held (every update but the first of a window and those
    with a fault), one ``_foreach_add_`` replaces a dozen separate additions and allocations.
    """
    if totals.keys() == metrics.keys():
        torch._foreach_add_(list(totals.values()), [metrics[key] for key in totals])
        return
    for key, value in metrics.items():
        if key in totals:
            totals[key].add_(value)
        else:
            totals[key] = value.detach().clone()


def evaluate(state: RunState, env: Any, cfg: TrainConfig) -> tuple[list[float], list[tuple[np.ndarray, np.ndarray]]]:
    """Deterministic-policy returns on the held-out evaluation seeds (the same seeds every time),
    and each episode's observations and rewards (for the critic-vs-return diagnostic)."""
    device = state.buffer.device
    returns, episodes = [], []
    for i in range(cfg.eval_episodes):
        obs, _ = env.reset(seed=stream_seed(cfg.seed, _EVAL_STREAM, i))
        seen, rewards, done = [obs], [], False
        while not done:
            with torch.inference_mode():
                act = state.agent.actor.deterministic(torch.as_tensor(obs, device=device).unsqueeze(0))
            obs, reward, terminated, truncated, _ = env.step(act.squeeze(0).cpu().numpy())
            rewards.append(float(reward))
            seen.append(obs)
            done = terminated or truncated
        returns.append(float(sum(rewards)))
        episodes.append((np.asarray(seen[:-1]), np.asarray(rewards)))
    return returns, episodes


def rebuild_plant(state: RunState, plants: Plants) -> None:
    """Brings a fresh plant to the checkpointed mid-episode state by seeded reset and replay."""
    obs = plants.reset(state.episode)
    for act in state.episode_actions:
        obs, *_ = plants.env(state.episode).step(act)
    if state.obs is None or not np.array_equal(obs, state.obs):
        raise RuntimeError(
            f"the plant did not reproduce the checkpointed state at step {state.step} "
            f"(episode {state.episode}, {len(state.episode_actions)} replayed actions): "
            "it is not deterministic under its seed, so the run cannot resume exactly"
        )


def run_evaluation(state: RunState, env: Any, cfg: TrainConfig, runlog: RunLog, bar: Any) -> list[float]:
    """Evaluates, logs, and raises the critic-underestimation alarm when it applies."""
    returns, episodes = evaluate(state, env, cfg)
    mean = float(np.mean(returns))
    diag = diagnostics.q_vs_monte_carlo(state.agent, episodes, cfg.sac.gamma, state.buffer.device)
    runlog.scalars(state.step, {"eval/return_mean": mean, "eval/return_std": float(np.std(returns)), **diag})
    runlog.record("eval", state.step, returns=returns, return_mean=mean, **{k[5:]: v for k, v in diag.items()})
    bar.write(f"step {state.step}: eval return {mean:.1f} ± {np.std(returns):.1f}")
    ratio = diag["diag/q_over_mc"]
    if state.step > cfg.learning_starts and diag["diag/mc_return_mean"] > 0 and ratio < cfg.underestimation_ratio:
        message = (
            f"critic underestimation alarm at step {state.step}: mean Q {diag['diag/q_mean']:.2f} is "
            f"{ratio:.2f} of the Monte-Carlo return {diag['diag/mc_return_mean']:.2f} "
            f"(threshold underestimation_ratio={cfg.underestimation_ratio})"
        )
        log.warning(message)
        runlog.record("alarm", state.step, alarm="critic_underestimation", q_over_mc=ratio)
    return returns


def source_phase(state: RunState, cfg: TrainConfig, runlog: RunLog, window: Window,
                 targeter: Targeter | None = None) -> None:  # fmt: skip
    """Each synthetic source refreshes on the real data (the world model retrains), logs what it
    reports, then rolls out (nominal and targeted) into its pool."""
    for source in state.sources.values():
        if not source.refreshes:
            continue
        t0 = time.perf_counter()
        report = source.refresh(state, cfg)
        t0 = window.timed("model_train", t0)
        roll, targeted = source.generate(state, cfg, targeter)
        window.timed("rollout", t0)
        version, stopped_by = report.pop("version", ""), report.pop("stopped_by", "")
        runlog.scalars(state.step, report)
        tag = "" if source.name == MODEL else f"{source.name}/"
        runlog.scalars(state.step, {f"rollout/{tag}{k}": float(v) for k, v in roll.items() if k != "version"})
        if report:
            append_event(runlog.ledger_path, state.step, "retrain", source=source.name, version=version,
                         stopped_by=stopped_by, **report)  # fmt: skip
        append_event(runlog.ledger_path, state.step, "rollout", source=source.name, **roll)
        for line in targeted:
            name = line["scenario"]
            numbers = {k: float(v) for k, v in line.items() if isinstance(v, int | float) and not isinstance(v, bool)}
            runlog.scalars(state.step, {f"targeted/{tag}{name}/{k}": v for k, v in numbers.items()})
            append_event(runlog.ledger_path, state.step, "targeted", source=source.name, **line)


@dataclass
class Run:
    """One run directory's open resources and loop state: what :func:`train` sets up, steps and
    finishes, and what :mod:`pipeline.stacked_train` holds one of per seed."""

    cfg: TrainConfig
    record: robots.RobotRecord
    env: Any
    eval_env: Any
    hp: SACHyper
    mixer: Mixer
    state: RunState
    plants: Plants
    runlog: RunLog
    window: Window
    bar: Any
    last_return: float = float("nan")
    eval_returns: list[float] = field(default_factory=list)
    start_wall: float = field(default_factory=time.perf_counter)
    checkpoint_wall: float = field(default_factory=time.perf_counter)

    @property
    def act_dim(self) -> int:
        return self.record.action_dim

    @property
    def ckpt_dir(self) -> Path:
        return Path(self.cfg.run_dir) / "checkpoints"

    def on_episode(self, step: int, ret: float) -> None:
        self.last_return = ret
        self.runlog.record("episode", step, episode_return=ret, scenario=self.plants.scenario(self.state.episode))
        self.runlog.writer.add_scalar("train/episode_return", ret, step)

    def save_checkpoint(self) -> Path:
        self.checkpoint_wall = time.perf_counter()
        return checkpoint.save(self.ckpt_dir, self.state.step, self.state.payload(), self.cfg.keep_checkpoints)

    def clock_due(self) -> bool:
        """Whether ``checkpoint_every_s`` seconds have passed since this session's last checkpoint."""
        every = self.cfg.checkpoint_every_s
        return bool(every) and time.perf_counter() - self.checkpoint_wall >= every

    def stop_checkpoint(self) -> Path:
        """The checkpoint of the current step, written unless the step's housekeeping wrote it."""
        path = self.ckpt_dir / f"ckpt-{self.state.step:09d}.pt"
        return path if path in checkpoint.list_checkpoints(self.ckpt_dir) else self.save_checkpoint()

    def housekeeping(self, checkpoint_now: bool = False) -> None:
        """After an env step and its updates: log, evaluate and checkpoint on their schedules
        (``checkpoint_now``: checkpoint this step whatever the schedule)."""
        cfg, state = self.cfg, self.state
        if state.step % cfg.log_every == 0:
            scalars = self.window.scalars(state)
            self.runlog.scalars(state.step, scalars)
            append_event(self.runlog.ledger_path, state.step, "window", **ledger_summary(state, cfg))
            state.faults.log_window(state.step)
            self.bar.set_postfix(ret=f"{self.last_return:.1f}", upd_s=f"{scalars['perf/updates_per_s']:.0f}")
            self.window.reset(state)
        if cfg.eval_every and state.step % cfg.eval_every == 0:
            self.eval_returns = run_evaluation(state, self.eval_env, cfg, self.runlog, self.bar)
        if state.step % cfg.checkpoint_every == 0 or checkpoint_now:
            self.save_checkpoint()

    def due(self) -> bool:
        """Whether :meth:`housekeeping` has anything to do at this step (it reads the agent)."""
        cfg, step = self.cfg, self.state.step
        return (
            step % cfg.log_every == 0
            or bool(cfg.eval_every and step % cfg.eval_every == 0)
            or (step % cfg.checkpoint_every == 0)
        )

    def finish(self) -> dict[str, Any]:
        """The final evaluation and checkpoint (unless the last step made them), the final ledger
        event and ``summary.json``; returns the summary."""
        cfg, state = self.cfg, self.state
        if not self.eval_returns or not (cfg.eval_every and state.step % cfg.eval_every == 0):
            self.eval_returns = run_evaluation(state, self.eval_env, cfg, self.runlog, self.bar)
        if not checkpoint.list_checkpoints(self.ckpt_dir) or state.step % cfg.checkpoint_every:
            self.save_checkpoint()
        append_event(self.runlog.ledger_path, state.step, "final", **ledger_summary(state, cfg))
        summary = {
            "run_dir": str(cfg.run_dir),
            "robot": cfg.robot,
            "algo": cfg.algo.name,
            "seed": cfg.seed,
            "steps": state.step,
            "updates": state.updates,
            "eval_return_mean": float(np.mean(self.eval_returns)),
            "eval_returns": self.eval_returns,
            "ledger": ledger_summary(state, cfg),
            "wall_s_this_session": time.perf_counter() - self.start_wall,
        }
        checkpoint.atomic_write(Path(cfg.run_dir) / "summary.json", json.dumps(summary, indent=2).encode())
        return summary

    def close(self) -> None:
        self.runlog.close()
        self.env.close()
        self.eval_env.close()


def open_run(cfg: TrainConfig, exposures: Mapping[str, Sequence[Perturbation]], device: torch.device, bar: Any) -> Run:
    """Sets up (or resumes) the run in ``cfg.run_dir``: plants, state, run directory, logs.

    ``bar`` is the progress bar the run writes its evaluations to.
    """
    run_dir = Path(cfg.run_dir)
    record = robots.get(cfg.robot)
    gap = cfg.gap if cfg.plant == "real" else None
    env = robots.make(cfg.robot, gap=gap, **cfg.robot_settings)
    eval_env = robots.make(cfg.robot, gap=gap, **cfg.robot_settings)
    runlog: RunLog | None = None
    try:
        mixer = Mixer(effective_real_ratio(cfg), cfg.sac.batch_size, cfg.synthetic_shares)
        state = new_state(cfg, record.layout.size, record.action_dim, device)
        plants = Plants(env, cfg, exposures)
        found = checkpoint.load_latest(run_dir / "checkpoints")
        for directory in (run_dir, run_dir / "checkpoints"):  # writes a crash cut short leave these
            runfiles.remove_stale_temporaries(directory)
        prepare_run_dir(cfg, run_dir, resuming=found is not None)
        if found is not None:
            path, payload = found
            state.restore(payload)
            rebuild_plant(state, plants)
            log.info("resumed %s from %s at step %d (%d real transitions in the buffer)",
                     run_dir, path.name, state.step, state.buffer.size)  # fmt: skip
        else:
            if cfg.init_from:
                policies.start_from(state.agent, policies.read(cfg.init_from, cfg))
                if cfg.sac.anchor > 0:
                    state.agent.set_anchor()
            state.obs = plants.reset(0)
            log.info("new run %s: %s (%s), %s, %d steps, seed %d%s", run_dir, cfg.robot, plants.prefix, cfg.algo.name,
                     cfg.steps, cfg.seed, f", from {cfg.init_from}" if cfg.init_from else "")  # fmt: skip
            import_all(state, cfg)
        if state.step < cfg.steps <= cfg.learning_starts:
            log.warning("steps=%d <= learning_starts=%d: this run only takes random actions and trains nothing "
                        "(0 updates). Set learning_starts below steps, e.g. learning_starts=%d",
                        cfg.steps, cfg.learning_starts, max(1, cfg.steps // 5))  # fmt: skip
        runlog = RunLog(run_dir, state.step if found is not None else -1, rerun_end=state.step >= cfg.steps)
        state.faults.ledger_path = runlog.ledger_path
        state.faults.checkpoint_dir = run_dir / "checkpoints"
        if found is None:
            text = yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False)
            runlog.writer.add_text("config", "```\n" + text + "```", 0)
    except BaseException:
        if runlog is not None:
            runlog.close()
        env.close()
        eval_env.close()
        raise
    return Run(cfg=cfg, record=record, env=env, eval_env=eval_env, hp=sac_hyper(cfg.sac, record.action_dim),
               mixer=mixer, state=state, plants=plants, runlog=runlog, window=Window(state), bar=bar)  # fmt: skip


def train(
    cfg: TrainConfig,
    exposures: Mapping[str, Sequence[Perturbation]] | None = None,
    targeter: Targeter | None = None,
) -> dict[str, Any]:
    """Runs (or resumes) ``synthgate train`` and returns its final summary.

    ``exposures`` maps each of the run's scenarios (:func:`pipeline.config.scenario_names`) to its
    perturbations, and ``targeter`` generates synthetic data for them when ``targeted=true`` (the
    command line builds both from
    the scenario library; ``pipeline`` does not import ``scenarios``).

    The loop, per env step: collect one real step; with synthetic sources (a model-based preset,
    ``sources``), every ``algo.retrain_every`` steps after ``learning_starts``, refresh each source
    and roll it out;
    update the agent ``algo.utd`` times on the mixer's batches; log, evaluate and checkpoint on
    their schedules.

    Raises:
        ConfigError: an invalid value, before any work starts (``stacked_seeds`` runs through
            :func:`pipeline.stacked_train.train_stacked`).
        Interrupted: SIGINT or SIGTERM arrived; the step was finished and checkpointed.
    """
    validate(cfg)
    if cfg.stacked_seeds:
        raise ConfigError(f"stacked_seeds={cfg.stacked_seeds}: run them with pipeline.stacked_train.train_stacked")
    if cfg.targeted and (targeter is None or list(targeter.scenarios) != scenario_names(cfg)):
        raise ConfigError(f"targeted=true: a targeted generator for scenarios={scenario_names(cfg)} must be passed in")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    with runfiles.run_log_file(Path(cfg.run_dir)):
        return _train(cfg, exposures or {}, targeter, device)


def _train(
    cfg: TrainConfig, exposures: Mapping[str, Sequence[Perturbation]], targeter: Targeter | None, device: torch.device
) -> dict[str, Any]:
    bar = progress_bar(cfg.steps, cfg.progress)
    try:
        run = open_run(cfg, exposures, device, bar)
    except BaseException:
        bar.close()
        raise
    state, window = run.state, run.window
    bar.n = bar.last_print_n = bar.initial = state.step  # resumed steps are not this session's
    bar.refresh()
    try:
        with StopRequest() as stop:
            while state.step < cfg.steps:
                t0 = time.perf_counter()
                collect_real_step(state, run.plants, cfg, run.act_dim, run.on_episode)
                t0 = window.timed("env", t0)
                learning = state.step > cfg.learning_starts
                if state.sources and state.step >= cfg.learning_starts and state.step % cfg.algo.retrain_every == 0:
                    source_phase(state, cfg, run.runlog, window, targeter)
                    t0 = time.perf_counter()
                if learning:
                    cpu0 = time.process_time()
                    update_agent(state, cfg, run.hp, run.mixer, window.totals)
                    window.update_cpu_s += time.process_time() - cpu0
                    t0 = window.timed("agent_update", t0)
                bar.update(1)
                run.housekeeping(run.clock_due())
                window.timed("eval_log_ckpt", t0)
                if stop.signum is not None:
                    raise Interrupted(stop.signum, state.step, [run.stop_checkpoint()])
        return run.finish()
    finally:
        bar.close()
        run.close()
