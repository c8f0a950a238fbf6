"""The model side: perturbations as model inputs, model rollouts scored for failure, and the
world model itself (the run's, or one fitted for the search)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

import robots
from pipeline.config import ALGORITHMS, DEFAULT_WORLD_MODEL, AlgoConfig, TrainConfig, model_hyper, stream_seed
from pipeline.model_env import ModelEnv
from pipeline.runs import Run
from pipeline.sac import Actor
from pipeline.world_model import EnsembleDynamics, fit, make_optimizer
from robots.context import EVENT_FAMILIES, encode, push_velocity_change
from robots.perturbations import Perturbation
from scenarios.library import Scenario
from scenarios.stress.config import FIT_STREAM, MODEL_STREAM, StressConfig, StressError
from scenarios.stress.plant import plant_episodes
from scenarios.stress.space import Space


@dataclass
class Impulses:
    """Velocity impulses of a batch of points: at control step ``step``, add ``delta`` to ``cols``."""

    step: int
    every: int
    cols: list[int]
    delta: np.ndarray
    """``[points, len(cols)]``."""


def model_inputs(space: Space, u: np.ndarray, c: np.ndarray, horizon: int) -> tuple[np.ndarray, list[Impulses]]:
    """Context vectors ``[n, ctx]`` and push impulses of ``n`` points (module docstring, phase 2)."""
    scenario = space.scenario
    layout = robots.context_layout(scenario.robot)
    obs_layout = robots.get(scenario.robot).layout
    env = robots.make(scenario.robot)
    try:
        mj_model = env.unwrapped.mj_model  # type: ignore[attr-defined]
        dt = float(env.unwrapped.control_timestep)  # type: ignore[attr-defined]
        ctx = np.zeros((u.shape[0], layout.size), dtype=np.float32)
        plans: dict[int, tuple[Perturbation, list[dict[str, float]]]] = {}
        for i in range(u.shape[0]):
            perts = space.perturbations(u[i], c[i])
            ctx[i] = encode([{"family": p.family, **p.params} for p in perts if p.family not in EVENT_FAMILIES],
                            layout)  # fmt: skip
            for j, p in enumerate(perts):
                if p.family in EVENT_FAMILIES:
                    change = push_velocity_change(mj_model, obs_layout, dt, p.params, p.trigger.duration)
                    plans.setdefault(j, (p, []))[1].append(change)
    finally:
        env.close()
    impulses = []
    for p, changes in plans.values():
        keys = sorted(changes[0])
        cols = [obs_layout.slice(k).start for k in keys]
        delta = np.array([[ch[k] for k in keys] for ch in changes], dtype=np.float32)
        step = p.trigger.step if p.trigger.hook == "at_step" else 0
        every = p.trigger.every if p.trigger.hook == "every_n_steps" else 0
        if p.trigger.hook == "on_reset":
            step = 0
        if step < horizon or every:
            impulses.append(Impulses(step, every, cols, delta))
    return ctx, impulses


def mean_step(
    env: ModelEnv, obs: torch.Tensor, act: torch.Tensor, generator: torch.Generator, ctx: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One model step per row from a randomly drawn elite's *mean*, with :class:`ModelEnv`'s validity
    (finite, within the range of real states) and the robot's termination.

    The plant is deterministic given its state: an elite's predicted variance is model error, and
    sampling it at each of tens of steps diffuses the state (a tight predicate such as a pitch
    bound then fires on noise). The elites' disagreement still varies the rollouts.
    """
    model = env.model
    with torch.no_grad():
        mean, logvar = model.raw(obs, act, ctx)
        mean, _ = model.decode(obs, mean, logvar)
        pick = torch.randint(0, model.hp.elites, (obs.shape[0],), generator=generator)
        nxt = mean[model.elite_idx][pick, torch.arange(obs.shape[0])][:, 1:]
    span = (model.obs_high - model.obs_low) * env.factor
    valid = torch.isfinite(nxt).all(-1) & ((nxt >= model.obs_low - span) & (nxt <= model.obs_high + span)).all(-1)
    terminated = torch.as_tensor(env.termination(nxt), dtype=torch.bool) & valid
    return nxt, valid, terminated


def model_failures(
    env: ModelEnv,
    actor: Actor,
    predicate: Callable[[torch.Tensor], Any],
    ctx: np.ndarray,
    impulses: list[Impulses],
    starts: torch.Tensor,
    rollouts: int,
    horizon: int,
    generator: torch.Generator,
    noise: bool = False,
    chunk: int = 8192,
    margin: Callable[[torch.Tensor], Any] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """The share of ``rollouts`` world-model episodes per point in which the predicate fires; how
    early: the mean over the rollouts of ``1 − t_fail/horizon`` (0 for a rollout that did not fail);
    and how near the others come: the mean over the rollouts of ``clip(1 − m/m₀, 0, 1)`` for a
    rollout that did not fail (0 for one that did), where ``m`` is the least ``margin`` of its
    predicted states and ``m₀`` the mean margin of ``starts`` (all zeros without ``margin``).

    Row ``i·rollouts + k`` is point ``i``'s ``k``-th episode, started from a reset state drawn from
    ``starts``; each step uses a randomly drawn elite, sampled from its Gaussian with ``noise``,
    else its mean (:func:`mean_step`). A row ends at failure, at the robot's termination, or at its first dropped
    (non-finite or out-of-range) prediction, which is counted and never scored as a failure.
    """
    n = ctx.shape[0]
    rows = n * rollouts
    pick = torch.randint(0, starts.shape[0], (rows,), generator=generator)
    fails = torch.zeros(rows, dtype=torch.bool)
    t_fail = torch.full((rows,), horizon, dtype=torch.float32)
    counts = {"model_episodes": rows, "model_steps": 0, "dropped": 0, "terminated": 0}
    ctx_rows = torch.as_tensor(ctx).repeat_interleave(rollouts, dim=0)
    least = torch.full((rows,), math.inf)
    m0 = float(torch.as_tensor(margin(starts)).float().mean()) if margin is not None else 1.0
    if not m0 > 0:
        raise StressError(f"the predicate's mean margin at the reset states is {m0:.4g}: the starts already fail")
    for begin in range(0, rows, chunk):
        idx = torch.arange(begin, min(begin + chunk, rows))
        obs = starts[pick[idx]].clone()
        c = ctx_rows[idx]
        point = idx // rollouts
        for step in range(horizon):
            if idx.numel() == 0:
                break
            with torch.no_grad():
                act = actor.deterministic(obs)
            for imp in impulses:  # as on the plant: the action is chosen, then the push changes the velocity
                fire = step == imp.step if not imp.every else (step > 0 and step % imp.every == 0)
                if fire:
                    obs[:, imp.cols] += torch.as_tensor(imp.delta)[point]
            if noise:
                res = env.step(obs, act, generator, ctx=c, disagreement=False)
                nxt, valid, terminated = res.next_obs, res.valid, res.terminated
            else:
                nxt, valid, terminated = mean_step(env, obs, act, generator, c)
            counts["model_steps"] += int(idx.numel())
            failed = torch.as_tensor(predicate(nxt), dtype=torch.bool) & valid
            if margin is not None:
                m = torch.as_tensor(margin(nxt)).float()
                least[idx[valid]] = torch.minimum(least[idx[valid]], m[valid])
            fails[idx[failed]] = True
            t_fail[idx[failed]] = float(step + 1)
            counts["dropped"] += int((~valid).sum())
            counts["terminated"] += int((terminated & ~failed).sum())
            alive = valid & ~failed & ~terminated
            idx, obs, c, point = idx[alive], nxt[alive], c[alive], point[alive]
    share = fails.reshape(n, rollouts).float().mean(dim=1).numpy()
    early = (1.0 - t_fail / horizon).reshape(n, rollouts).mean(dim=1).numpy()
    near = torch.where(fails, 0.0, (1.0 - least / m0).clamp(0.0, 1.0)) if margin is not None else torch.zeros(rows)
    return share, early, near.reshape(n, rollouts).mean(dim=1).numpy(), counts


def model_settings(cfg: TrainConfig) -> AlgoConfig:
    """The world-model settings a search's model is fitted with (``.name`` is the preset): a
    model-based run's own; for a SAC run, which has none, the project's default world model
    (:data:`pipeline.config.DEFAULT_WORLD_MODEL`)."""
    if cfg.algo.model_based:
        return cfg.algo
    return ALGORITHMS[DEFAULT_WORLD_MODEL].model_of(DEFAULT_WORLD_MODEL, cfg.algo)


def settings_record(cfg: TrainConfig) -> dict[str, str]:
    """The report's record of :func:`model_settings`."""
    m = model_settings(cfg)
    return {"preset": m.name, "target": m.target, "target_norm": m.target_norm, "likelihood": m.model.likelihood}


def run_model(run: Run, scenario: str, ctx_dim: int) -> EnsembleDynamics | None:
    """The run's checkpointed world model if it has context for ``scenario``: a model-based run that
    trained with real exposure to it and a model whose context has the robot's layout; else None."""
    if run.model is None or scenario not in run.config.scenarios or not run.config.exposure > 0:
        return None
    return run.model if run.model.ctx_dim == ctx_dim else None


def fit_model(
    scenario: Scenario,
    cfg: TrainConfig,
    payload: dict[str, Any],
    actor: Actor,
    conf: StressConfig,
    horizon: int,
    margin: Callable[[np.ndarray], Any] | None = None,
) -> tuple[EnsembleDynamics, dict[str, Any]]:
    """A world model with context for this search: plant episodes at parameters spread over the space
    (:meth:`Space.design`; even episodes follow the deterministic policy, odd ones sample the stochastic one)
    plus the run's most recent real transitions: all of them with their stored context when the run
    stored one (``context=true``), else only the nominal plant's (context zero)."""
    record = robots.get(scenario.robot)
    layout = robots.context_layout(scenario.robot)
    data: list[list[np.ndarray]] = [[] for _ in range(5)]

    def keep(_: int, o: np.ndarray, a: np.ndarray, o2: np.ndarray, r: float, c: np.ndarray) -> None:
        for store, x in zip(data, (o, a, np.float32(r), o2, c), strict=True):
            store.append(np.asarray(x, dtype=np.float32))

    space = Space(scenario)
    rng = np.random.default_rng(stream_seed(conf.seed, FIT_STREAM, 0))
    u, c = space.design(conf.fit_episodes, rng)
    points = [space.perturbations(u[i], c[i]) for i in range(conf.fit_episodes)]
    seeds = [stream_seed(conf.seed, FIT_STREAM, 1 + i) for i in range(conf.fit_episodes)]
    gen = torch.Generator().manual_seed(stream_seed(conf.seed, FIT_STREAM, 10**6))
    real = {**cfg.robot_settings, "gap": conf.gap or cfg.gap}  # the real plant
    res = plant_episodes(scenario, real, actor, points, seeds, horizon, on_step=keep,
                         explore=lambda i: i % 2 == 1, generator=gen, margin=margin)  # fmt: skip
    widths = ((record.layout.size,), (record.action_dim,), (), (record.layout.size,), (layout.size,))
    obs, act, rew, nxt, ctx = (
        np.stack(x) if x else np.zeros((0, *w), np.float32) for x, w in zip(data, widths, strict=True)
    )
    n_plant = obs.shape[0]
    n_run = 0
    buf = payload.get("buffer")
    if conf.run_transitions and buf is not None:
        size = int(buf["size"])
        stored = buf.get("ctx")
        if stored is not None and stored.shape[1] == layout.size:  # a run with context=true: every row, its context
            rows = torch.arange(size)
        else:  # no stored context: only the nominal plant's rows are known to have context zero
            nominal = f"{scenario.robot}/plant"
            ids = torch.tensor([i for i, o in enumerate(buf["origins"]) if o == nominal], dtype=buf["origin"].dtype)
            rows = torch.nonzero(torch.isin(buf["origin"][:size], ids))[:, 0]
            stored = None
        rows = rows[-conf.run_transitions :]
        n_run = int(rows.numel())
        if n_run:
            obs = np.concatenate([obs, buf["obs"][rows].numpy()])
            act = np.concatenate([act, buf["act"][rows].numpy()])
            rew = np.concatenate([rew, buf["rew"][rows].numpy()])
            nxt = np.concatenate([nxt, buf["next_obs"][rows].numpy()])
            run_ctx = stored[rows].numpy() if stored is not None else np.zeros((n_run, layout.size), np.float32)
            ctx = np.concatenate([ctx, run_ctx])
    if obs.shape[0] < 10:
        raise StressError(
            f"fit_episodes={conf.fit_episodes}, run_transitions={conf.run_transitions}: "
            f"{obs.shape[0]} transitions are too few to fit a world model; raise fit_episodes"
        )
    hp = replace(model_hyper(model_settings(cfg)), max_epochs=max(conf.fit_epochs, 1), max_retrain_s=math.inf)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stream_seed(conf.seed, MODEL_STREAM, 0))
        model = EnsembleDynamics(record.layout.size, record.action_dim, hp, ctx_dim=layout.size)
    t = (torch.as_tensor(x) for x in (obs, act, rew, nxt, ctx))
    o_t, a_t, r_t, n_t, c_t = t
    report = fit(model, make_optimizer(model), o_t, a_t, r_t, n_t, torch.Generator().manual_seed(
        stream_seed(conf.seed, MODEL_STREAM, 1)), ctx=c_t)  # fmt: skip
    model.eval()
    info = {
        "source": "fitted for this stress search",
        "settings": settings_record(cfg),
        "plant_episodes": conf.fit_episodes,
        "plant_failures": int(res.failed.sum()),
        "plant_transitions": n_plant,
        "run_transitions": n_run,
        "epochs": report.epochs,
        "stopped_by": report.stopped_by,
        "holdout_mse_elites": float(np.mean(sorted(report.holdout_mse)[: hp.elites])),
        "version": report.version,
        "plant_points": {"u": u.tolist(), "c": c.tolist(), "explore": [i % 2 == 1 for i in range(conf.fit_episodes)],
                         "failed": res.failed.tolist(),
                         "least_margin": None if res.least_margin is None else res.least_margin.tolist()},
    }  # fmt: skip
    return model, info
