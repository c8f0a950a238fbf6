"""Several seeds of ``synthgate train algo=sac`` in one process, their agents stacked (issue 10).

``synthgate train algo=sac stacked_seeds=[0,1,2,3]`` runs the four seeds in lockstep: per env
step, every seed's plant takes one step (one batched actor call picks all the actions), then
``algo.utd`` times every seed samples its own batch from its own buffer and one
:func:`pipeline.multiseed.stacked_sac_update` updates all of them. Everything else stays per seed:
plant, buffer, ledger, fault log, random streams, evaluations, logs and checkpoints.

Seed ``s`` writes the run directory ``<run_dir>/seed-<s>``, and it is the run ``seed=s`` would
make: the same random streams in the same order, the same config file (with ``stacked_seeds``
empty), checkpoints of the same format with the seed's own Adam moments. It equals the lone run up
to float rounding (a batched matmul may sum in another order), with one exception: after an
update skipped for a non-finite loss, that seed's Adam step count runs ahead of the lone run's (the
stacked optimizers share one counter, :mod:`pipeline.multiseed`). A seed's directory can be
resumed alone, evaluated, exported and validated like any other; ``tests/pipeline/test_stacked_train.py``
checks this against lone runs. A stacked run resumes when every seed's latest checkpoint is at the
same step.

Only model-free SAC stacks: the model-based presets train a world model per seed, which still
runs one seed per process (``pipeline.config`` refuses the combination). What stacking buys is
measured in ``benchmarks/ab_multiseed.py`` and ``benchmarks/stacked_train.py`` (docs/performance.md).

Logs: each seed's ``perf/`` figures describe the process, not the seed alone. Its phase times
(env, agent updates, logging) are those of all seeds together, ``perf/update_ms`` is the time of
one stacked update, and ``perf/env_steps_per_hour`` counts that seed's steps only, so the
process's throughput is the sum over its seeds.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline import checkpoint, runfiles
from pipeline.config import ConfigError, TrainConfig, seed_config, validate
from pipeline.faults import ACTOR_SKIPPED, SKIPPED, RunStopped
from pipeline.multiseed import StackedSAC, stack_agents, stack_batches, stacked_sac_update, unstack_agent
from pipeline.progress import progress_bar
from pipeline.train import Interrupted, Run, StopRequest, collect_real_step, count_update, open_run, resolve_device
from robots.perturbations import Perturbation

log = logging.getLogger("synthgate.train")
_STOPPED_HINT = (
    "Its fault log stopped the whole stacked run; every seed's last checkpoint is intact, and the "
    "other seeds resume stacked without it (their checkpoints are at the same step)."
)
_STOPPED_EARLY_HINT = (
    "Its fault log stopped the whole stacked run before its first checkpoint; every seed starts over from env "
    "step 0 when it runs again."
)


def _act(runs: Sequence[Run], stacked: StackedSAC) -> list[np.ndarray | None]:
    """Each seed's action for this env step. Before ``learning_starts`` a seed draws its uniform
    action itself (None here); after, one stacked actor call samples all seeds, each seed's noise
    drawn from its own generator as :func:`pipeline.train.choose_action` draws it."""
    if runs[0].state.step < runs[0].cfg.learning_starts:
        return [None] * len(runs)
    device = runs[0].state.buffer.device
    act_dim = runs[0].act_dim
    with torch.inference_mode():
        obs = torch.stack([torch.as_tensor(r.state.obs, device=device) for r in runs]).unsqueeze(1)
        eps = torch.stack([
            torch.randn((1, act_dim), generator=r.state.gen_act, device=r.state.gen_act.device).to(device)
            for r in runs
        ])  # fmt: skip
        act, _ = stacked.actor.sample(obs, eps)
    return list(act[:, 0].cpu().numpy())


def _update(runs: Sequence[Run], stacked: StackedSAC) -> None:
    """``algo.utd`` stacked updates, booked per seed as :func:`pipeline.train.update_agent` books them."""
    gens = [r.state.gen_update for r in runs]
    for _ in range(runs[0].cfg.algo.utd):
        batches = [r.mixer.sample(r.state.buffer, r.state.pools(), r.state.gen_update) for r in runs]
        metrics = stacked_sac_update(stacked, stack_batches(batches), gens, runs[0].hp)
        skipped, actor_skipped = metrics.pop(SKIPPED).tolist(), metrics.pop(ACTOR_SKIPPED).tolist()
        for s, run in enumerate(runs):
            mine = {key: value[s] for key, value in metrics.items()}
            if skipped[s] or actor_skipped[s]:  # the fault log reads (and may diagnose) the seed's weights
                unstack_agent(stacked, s, run.state.agent)
                mine[SKIPPED if skipped[s] else ACTOR_SKIPPED] = torch.tensor(1.0)
            try:
                count_update(run.state, batches[s], mine, run.window.totals)
            except RunStopped as err:
                hint = _STOPPED_HINT if checkpoint.list_checkpoints(run.ckpt_dir) else _STOPPED_EARLY_HINT
                raise RunStopped(f"seed {run.cfg.seed} ({run.cfg.run_dir}): {err} {hint}") from err


def _timed(runs: Sequence[Run], phase: str, t0: float) -> float:
    """Adds the wall-clock since ``t0`` to ``phase`` in every seed's window (the process's time)."""
    now = time.perf_counter()
    for run in runs:
        run.window.phase_s[phase] += now - t0
    return now


def _newest_step(run_dir: Path) -> int:
    """The env step of the newest checkpoint file in ``run_dir`` (0: none), from its name."""
    names = checkpoint.list_checkpoints(run_dir / "checkpoints")
    return checkpoint.step_of(names[-1]) if names else 0


def _same_steps(cfg: TrainConfig, steps: Mapping[int, int]) -> None:
    if len(set(steps.values())) != 1:
        raise ConfigError(
            f"stacked_seeds={cfg.stacked_seeds}: the seeds' checkpoints are at different env steps {dict(steps)}; "
            "a stacked run moves its seeds in lockstep (resume the ones behind alone up to the others first)"
        )


def train_stacked(
    cfg: TrainConfig, exposures: Mapping[str, Sequence[Perturbation]] | None = None
) -> list[dict[str, Any]]:
    """Runs (or resumes) the seeds of ``cfg.stacked_seeds`` as one stacked computation and returns
    each seed's summary (that of :func:`pipeline.train.train`), in the order of the seeds.

    Raises:
        ConfigError: an invalid value, no ``stacked_seeds``, or seeds whose checkpoints are at
            different steps, before any work starts.
    """
    validate(cfg)
    if not cfg.stacked_seeds:
        raise ConfigError("stacked_seeds=[]: give two or more seeds (a single seed runs with pipeline.train.train)")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    configs = [seed_config(cfg, s) for s in cfg.stacked_seeds]
    for c in configs:
        validate(c)
    _same_steps(cfg, {c.seed: _newest_step(Path(c.run_dir)) for c in configs})  # before any directory is touched
    with contextlib.ExitStack() as logs:
        for c in configs:  # every seed's train.log holds this process's lines (each names its run directory)
            logs.enter_context(runfiles.run_log_file(Path(c.run_dir)))
        return _train_stacked(cfg, configs, exposures or {}, device)


def _train_stacked(
    cfg: TrainConfig, configs: list[TrainConfig], exposures: Mapping[str, Sequence[Perturbation]], device: torch.device
) -> list[dict[str, Any]]:
    bar = progress_bar(cfg.steps * len(configs), cfg.progress)
    runs: list[Run] = []
    try:
        for c in configs:
            runs.append(open_run(c, exposures, device, bar))
        _same_steps(cfg, {r.cfg.seed: r.state.step for r in runs})  # the checkpoints actually loaded
        try:
            stacked = stack_agents([r.state.agent for r in runs], cfg.sac.lr_actor, cfg.sac.lr_critic, cfg.sac.lr_alpha)
        except ValueError as err:
            raise ConfigError(f"stacked_seeds={cfg.stacked_seeds}: {err}") from err
        bar.n = bar.last_print_n = bar.initial = sum(r.state.step for r in runs)  # resumed steps: not this session's
        bar.refresh()
        log.info("stacked seeds %s in one process: %s", cfg.stacked_seeds, ", ".join(r.cfg.run_dir for r in runs))
        first = runs[0].state
        with StopRequest() as stop:
            while first.step < cfg.steps:
                t0 = time.perf_counter()
                for run, act in zip(runs, _act(runs, stacked), strict=True):
                    collect_real_step(run.state, run.plants, run.cfg, run.act_dim, run.on_episode, act)
                t0 = _timed(runs, "env", t0)
                if first.step > cfg.learning_starts:
                    cpu0 = time.process_time()
                    _update(runs, stacked)
                    cpu = time.process_time() - cpu0
                    for run in runs:
                        run.window.update_cpu_s += cpu
                    t0 = _timed(runs, "agent_update", t0)
                bar.update(len(runs))
                clock = runs[0].clock_due()  # one decision for every seed: their checkpoints stay in step
                if runs[0].due() or clock:  # every seed is at the same step: the same schedule
                    for s, run in enumerate(runs):
                        unstack_agent(stacked, s, run.state.agent)
                        run.housekeeping(clock)
                _timed(runs, "eval_log_ckpt", t0)
                if stop.signum is not None:
                    for s, run in enumerate(runs):
                        unstack_agent(stacked, s, run.state.agent)
                    raise Interrupted(stop.signum, first.step, [run.stop_checkpoint() for run in runs])
        for s, run in enumerate(runs):
            unstack_agent(stacked, s, run.state.agent)
        return [run.finish() for run in runs]
    finally:
        bar.close()
        for run in runs:
            run.close()
