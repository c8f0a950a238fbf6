"""Model-guided stress search: look for a policy's failures in the world model, confirm them on the
plant, and estimate the plant's failure probability with importance weights (issue 5, item 6).

The phases (:func:`stress`):

1. **World model.** The run's checkpointed model when it has context for this scenario (a
   model-based run trained with ``context=true`` and real exposure to it); otherwise one fitted
   here on ``fit_episodes`` plant episodes at parameters spread over the space (a Latin
   hypercube, so a few episodes reach the edges where rare failures live), each transition with
   its context, plus the run's most recent real transitions.
2. **Search.** The cross-entropy method (:mod:`scenarios.search`) over the scenario's random
   parameters. Each point gets ``rollouts`` world-model episodes from the plant's own reset
   states under the policy's deterministic action; the perturbation enters as the context
   (parameter changes) or as a velocity impulse on the state at the push's trigger step
   (pushes). The model *predicts a failure* at a point when the scenario's predicate fires in at
   least half of them. The search's score is that share plus half its earliness (the mean of
   ``1 − t_fail/horizon``), so among points that always fail, the soonest rank first; with
   ``closeness`` (the default), plus how near the rollouts that do not fail come to the predicate
   (its margin), so the search has a gradient even where the model predicts no failure. With
   ``refine`` (the default) it keeps iterating after the first predicted failures, concentrating
   on the highest scores; ``min_std`` keeps the proposal's spread from collapsing onto what may
   be the model's bias.
3. **Confirmation.** ``confirm`` searched points are run on the plant with exactly those
   parameter values, one after the other: the model's picks, spread over its best
   ``confirm_pool``, alternating (``plant_guided``) with the point whose plant margin a linear fit
   to the plant episodes so far predicts least; a confirmed failure is one of them that failed.
4. **Estimate.** ``episodes`` plant episodes at points drawn from the fitted proposal (a defensive
   mixture with the scenario's own distribution), refitted first to the confirmation's plant
   failures and, after ``adapt`` episodes, to the first stage's; ``p̂ = mean(w·f)`` with ``w = p/q``, and a 95%
   interval. The model's prediction at each of these points is recorded too.

The report counts every plant episode (model data, confirmation, estimate), says which model was
used, and gives the confirmation rate: of the plant episodes at points where the model predicted
a failure, the share that failed on the plant.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

import robots
from pipeline import checkpoint
from pipeline.config import AlgoConfig, TrainConfig, model_hyper, stream_seed
from pipeline.model_env import ModelEnv
from pipeline.runs import Run, RunError, load_run
from pipeline.sac import Actor
from pipeline.world_model import EnsembleDynamics, fit, make_optimizer
from robots.context import EVENT_FAMILIES, SENSING_FAMILIES, encode, push_velocity_change
from robots.perturbations import Choice, Perturbation, PerturbedEnv, Uniform
from robots.registry import UnknownNameError
from scenarios.library import Scenario, ScenarioError, get
from scenarios.search import (
    Z95,
    CEMResult,
    Estimate,
    Proposal,
    cross_entropy,
    importance_estimate,
    least_margin_pick,
    refit,
    spread_top,
)

MODEL_SOURCES = ("auto", "run", "fit")
_FIT, _STARTS, _CEM, _CONFIRM, _ESTIMATE, _MODEL, _NAIVE = range(10, 17)
PREDICTED = 0.5
"""A point is a predicted failure when at least this share of its model rollouts fail."""
NEAR = 0.45
"""Weight of the nearness in the search's score: below ``PREDICTED``, so a point where no rollout fails
never scores as a predicted failure."""


class StressError(ValueError):
    """The stress search cannot run as asked; the message names the field, the value and what is allowed."""


@dataclass(frozen=True)
class StressConfig:
    """``synthgate stress <run_dir> scenario=<name> [key=value ...]``."""

    scenario: str
    """The library scenario whose parameter space is searched (``synthgate scenarios``)."""
    seed: int = 0
    """Seed of every random stream of the search: the same seed gives the same report."""
    horizon: int = 0
    """Control steps per episode (plant and model); 0: the run's episode length."""
    model: str = "auto"
    """``auto``: the run's model if it has context for this scenario, else ``fit``; ``run``; ``fit``."""
    fit_episodes: int = 8
    """Plant episodes collected to fit the search's model, at parameters spread over the space (Latin hypercube)."""
    run_transitions: int = 5_000
    """The run's most recent real transitions added to the fit (with their context; without one, only
    nominal transitions, context zero); 0: none."""
    fit_epochs: int = 100
    """Epoch cap of the fit (early stopping as in training; no wall-clock cap, so it is reproducible)."""
    rollouts: int = 8
    """World-model episodes per searched point (over reset states and the ensemble's elites)."""
    model_noise: bool = False
    """Sample each model step from the elite's Gaussian (MBPO's rollouts); False: the elite's mean."""
    samples: int = 400
    """Points per cross-entropy iteration."""
    iterations: int = 6
    """Cross-entropy iterations (it keeps sharpening after reaching predicted failures)."""
    elite_frac: float = 0.1
    """Share of points kept as elites each iteration."""
    min_std: float = 0.15
    """Floor of the proposal's spread per continuous parameter (unit coordinates: a share of its range),
    so a biased model cannot narrow the proposal onto part of the plant's failure region."""
    closeness: bool = True
    """Rank points where no model rollout fails by how close the rollouts come to failing (the
    predicate's margin, relative to its margin at the reset states), so the search has a gradient,
    and confirms the points nearest to failure, even when the model predicts no failure anywhere;
    the estimate's proposal refits likewise move towards the plant episodes nearest to failing when
    none has failed yet; false: failure share and earliness only, refits to plant failures only."""
    refine: bool = True
    """Keep iterating after the model predicts failures, concentrating the proposal on the points it
    predicts fail most surely and soonest (narrower; it can miss part of the plant's failure region)."""
    confirm: int = 10
    """Points of the search run on the plant."""
    confirm_refit: bool = True
    """Refit the proposal towards the confirmation's plant failures before the estimate's first
    episode (plant evidence the search already paid for; the estimate stays unbiased)."""
    plant_guided: bool = True
    """Every second confirmation is the searched point with the least plant margin predicted by a
    linear fit to every plant episode so far (needs ``closeness``); false: every one is the model's."""
    confirm_pool: int = 40
    """The confirmed points are spread over this many of the search's best distinct points (the best
    first, then each the farthest from those chosen); at most ``confirm``: the ``confirm`` best."""
    episodes: int = 150
    """Plant episodes of the importance-sampling estimate."""
    adapt: int = 50
    """Episodes of the estimate's first stage, after which the proposal is refitted to the plant's own
    failures (adaptive importance sampling); 0: one stage, all from the search's proposal."""
    defensive: float = 0.1
    """Share of the scenario's own distribution in the proposal (bounds every weight by 1/defensive)."""
    threads: int = 1
    """torch intra-op threads."""
    out: str = ""
    """Where the JSON report goes; empty: ``<run_dir>/stress/<scenario>-s<seed>.json``."""

    def validate(self) -> None:
        """Raises :class:`StressError` naming the field, the value and what is allowed."""
        if self.model not in MODEL_SOURCES:
            raise StressError(f"model={self.model!r}: valid: {', '.join(MODEL_SOURCES)}")
        for name in ("rollouts", "samples", "iterations", "threads"):
            if getattr(self, name) < 1:
                raise StressError(f"{name}={getattr(self, name)!r}: must be >= 1")
        for name in ("horizon", "fit_episodes", "run_transitions", "fit_epochs", "confirm", "confirm_pool", "episodes",
                     "adapt"):  # fmt: skip
            if getattr(self, name) < 0:
                raise StressError(f"{name}={getattr(self, name)!r}: must be >= 0")
        if self.episodes < 1:
            raise StressError(f"episodes={self.episodes!r}: the estimate needs at least 1 plant episode")
        if not 0.0 < self.elite_frac < 1.0:
            raise StressError(f"elite_frac={self.elite_frac!r}: must be in (0, 1)")
        if not 0.0 < self.min_std <= 1.0:
            raise StressError(f"min_std={self.min_std!r}: must be in (0, 1]")
        if not 0.0 < self.defensive <= 1.0:
            raise StressError(f"defensive={self.defensive!r}: must be in (0, 1]")


def parse_option(key: str, value: str) -> Any:
    """One ``key=value`` option of :class:`StressConfig`, typed.

    Raises:
        StressError: an unknown key (the valid ones are listed) or a value of the wrong type.
    """
    fields = StressConfig.__dataclass_fields__
    if key not in fields:
        raise StressError(f"unknown option {key!r}; valid: {', '.join(fields)}")
    kind = fields[key].type
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
    except ValueError:
        raise StressError(f"{key}={value!r}: must be {'an integer' if kind == 'int' else 'a number'}") from None
    if kind == "bool":
        if value.lower() not in ("true", "false"):
            raise StressError(f"{key}={value!r}: must be true or false")
        return value.lower() == "true"
    return value


# --- the parameter space ------------------------------------------------------------------


@dataclass(frozen=True)
class Dim:
    """One random parameter of a scenario: perturbation ``index``'s parameter ``key``."""

    index: int
    family: str
    key: str
    dist: Uniform | Choice

    @property
    def name(self) -> str:
        return f"{self.family}[{self.index}].{self.key}"

    def describe(self) -> dict[str, Any]:
        if isinstance(self.dist, Uniform):
            return {"name": self.name, "uniform": [self.dist.low, self.dist.high]}
        return {"name": self.name, "choice": list(self.dist.options)}


class Space:
    """A scenario's random parameters: continuous ones (``Uniform``) on unit coordinates, discrete
    ones (``Choice``) as option indices. Fixed parameters stay as the scenario gives them."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        dims = [Dim(i, p.family, k, v) for i, p in enumerate(scenario.perturbations)
                for k, v in p.params.items() if isinstance(v, Uniform | Choice)]  # fmt: skip
        if not dims:
            raise StressError(
                f"scenario {scenario.name!r} has no random parameter (Uniform or Choice) to search: "
                "every perturbation is fixed, so there is one plant to evaluate, not a space to search"
            )
        self.cont = [d for d in dims if isinstance(d.dist, Uniform)]
        self.cat = [d for d in dims if isinstance(d.dist, Choice)]
        self.sizes = [len(d.dist.options) for d in self.cat]  # type: ignore[union-attr]

    def values(self, u: np.ndarray, c: np.ndarray) -> list[dict[str, Any]]:
        """The concrete parameters of one point, one mapping per perturbation (fixed ones kept)."""
        out = [dict(p.params) for p in self.scenario.perturbations]
        for d, x in zip(self.cont, u, strict=True):
            assert isinstance(d.dist, Uniform)
            out[d.index][d.key] = float(d.dist.low + float(x) * (d.dist.high - d.dist.low))
        for d, j in zip(self.cat, c, strict=True):
            assert isinstance(d.dist, Choice)
            out[d.index][d.key] = d.dist.options[int(j)]
        return out

    def perturbations(self, u: np.ndarray, c: np.ndarray) -> list[Perturbation]:
        """The scenario's perturbations with every parameter fixed at this point."""
        return [replace(p, params=v) for p, v in zip(self.scenario.perturbations, self.values(u, c), strict=True)]

    def named(self, u: np.ndarray, c: np.ndarray) -> dict[str, Any]:
        """``{dim name: value}`` of one point, for reports."""
        values = self.values(u, c)
        return {d.name: values[d.index][d.key] for d in [*self.cont, *self.cat]}

    def design(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` points spread over the whole space (a Latin hypercube on the continuous parameters:
        one point in each ``1/n`` slice of every range; options cycled), for model data: a few
        episodes then cover the edges of the space, where rare failures live, not only its bulk."""
        from scipy.stats import qmc

        u = qmc.LatinHypercube(d=len(self.cont), seed=rng).random(n) if self.cont else np.zeros((n, 0))
        c = np.stack([rng.permutation(np.arange(n) % k) for k in self.sizes], axis=1) if self.sizes else np.zeros(
            (n, 0), dtype=np.int64)  # fmt: skip
        return u, c

    def nominal_sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` points from the scenario's own distribution."""
        return Proposal.nominal(len(self.cont), self.sizes).sample(n, rng)


# --- the plant ----------------------------------------------------------------------------


@dataclass
class PlantEpisodes:
    """Outcomes of plant episodes, in the order they were asked for."""

    failed: np.ndarray
    t_fail: np.ndarray
    """Control step of the first failure (−1: none)."""
    steps: int
    least_margin: np.ndarray | None = None
    """The least margin of the predicate over each episode's observations (None: no margin asked for)."""


def plant_episodes(
    scenario: Scenario,
    settings: dict[str, Any],
    actor: Actor,
    points: Sequence[list[Perturbation]],
    seeds: Sequence[int],
    horizon: int,
    lockstep: int = 16,
    on_step: Callable[[int, np.ndarray, np.ndarray, np.ndarray, float, np.ndarray], None] | None = None,
    explore: Callable[[int], bool] | None = None,
    generator: torch.Generator | None = None,
    margin: Callable[[np.ndarray], Any] | None = None,
) -> PlantEpisodes:
    """Runs one plant episode per point (reset with its seed) under the policy's deterministic
    action, ``lockstep`` episodes at a time so the policy runs batched. An episode fails when the
    scenario's predicate fires on an observation; it ends at failure, termination or ``horizon``.

    ``on_step(episode, obs, act, next_obs, reward, ctx)`` sees every transition (model data);
    episodes for which ``explore(episode)`` is true sample the stochastic policy from ``generator``;
    with ``margin``, each episode's least margin of the predicate is recorded too.
    """
    record = robots.get(scenario.robot)
    predicate = record.predicate(scenario.predicate)
    layout = robots.context_layout(scenario.robot)
    n = len(points)
    failed, t_fail = np.zeros(n, dtype=bool), np.full(n, -1, dtype=np.int64)
    least = np.full(n, np.inf)
    envs = [PerturbedEnv(robots.make(scenario.robot, **{**settings, "max_episode_steps": horizon}),
                         list(scenario.perturbations)) for _ in range(min(lockstep, n))]  # fmt: skip
    slots: list[int | None] = [None] * len(envs)
    obs: list[np.ndarray] = [np.zeros(0)] * len(envs)
    ctx: list[np.ndarray] = [np.zeros(0)] * len(envs)
    t: list[int] = [0] * len(envs)
    nxt, steps = 0, 0

    def start(s: int) -> None:
        nonlocal nxt
        if nxt >= n:
            slots[s] = None
            return
        env = envs[s]
        env.perturbations = list(points[nxt])
        o, info = env.reset(seed=int(seeds[nxt]))
        slots[s], obs[s], t[s] = nxt, o, 0
        ctx[s] = encode([a for a in info["perturbations"] if a["family"] not in EVENT_FAMILIES], layout)
        nxt += 1

    for s in range(len(envs)):
        start(s)
    try:
        while any(x is not None for x in slots):
            live = [s for s in range(len(envs)) if slots[s] is not None]
            batch = torch.as_tensor(np.stack([obs[s] for s in live]), dtype=torch.float32)
            with torch.no_grad():
                act = actor.deterministic(batch)
                if explore is not None and generator is not None:
                    eps = torch.randn(act.shape, generator=generator)
                    sampled, _ = actor.sample(batch, eps)
                    pick = torch.tensor([explore(int(slots[s])) for s in live])  # type: ignore[arg-type]
                    act = torch.where(pick.unsqueeze(-1), sampled, act)
            acts = act.numpy()
            for row, s in enumerate(live):
                episode = int(slots[s])  # type: ignore[arg-type]
                o2, r, terminated, truncated, _ = envs[s].step(acts[row])
                steps += 1
                if on_step is not None:
                    on_step(episode, obs[s], acts[row], o2, float(r), ctx[s])
                t[s] += 1
                if margin is not None:
                    least[episode] = min(least[episode], float(margin(o2[None])[0]))
                if bool(predicate(o2[None])[0]):
                    failed[episode], t_fail[episode] = True, t[s]
                    start(s)
                elif terminated or truncated:
                    start(s)
                else:
                    obs[s] = o2
    finally:
        for env in envs:
            env.close()
    return PlantEpisodes(failed, t_fail, steps, least if margin is not None else None)


# --- the world model ----------------------------------------------------------------------


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


def _algo(cfg: TrainConfig) -> AlgoConfig:
    if not cfg.algo.model_based:  # a SAC run has no model settings of its own: FTFL's model (the project's default)
        return replace(cfg.algo, target="direct", target_norm="independent")
    return cfg.algo


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
    rng = np.random.default_rng(stream_seed(conf.seed, _FIT, 0))
    u, c = space.design(conf.fit_episodes, rng)
    points = [space.perturbations(u[i], c[i]) for i in range(conf.fit_episodes)]
    seeds = [stream_seed(conf.seed, _FIT, 1 + i) for i in range(conf.fit_episodes)]
    gen = torch.Generator().manual_seed(stream_seed(conf.seed, _FIT, 10**6))
    res = plant_episodes(scenario, dict(cfg.robot_settings), actor, points, seeds, horizon, on_step=keep,
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
    hp = replace(model_hyper(_algo(cfg)), max_epochs=max(conf.fit_epochs, 1), max_retrain_s=math.inf)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stream_seed(conf.seed, _MODEL, 0))
        model = EnsembleDynamics(record.layout.size, record.action_dim, hp, ctx_dim=layout.size)
    t = (torch.as_tensor(x) for x in (obs, act, rew, nxt, ctx))
    o_t, a_t, r_t, n_t, c_t = t
    report = fit(model, make_optimizer(model), o_t, a_t, r_t, n_t, torch.Generator().manual_seed(
        stream_seed(conf.seed, _MODEL, 1)), ctx=c_t)  # fmt: skip
    model.eval()
    info = {
        "source": "fitted for this stress search",
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


# --- the search ---------------------------------------------------------------------------


def resolve(scenario_name: str, robot: str) -> Scenario:
    """The library scenario, checked against the run's robot.

    Raises:
        StressError: unknown scenario (the valid ones are listed) or one of another robot.
    """
    try:
        scenario = get(scenario_name)
    except ScenarioError as err:
        raise StressError(f"scenario={scenario_name!r}: {err}") from None
    if scenario.robot != robot:
        raise StressError(
            f"scenario={scenario_name!r} is a scenario of {scenario.robot}, but this run's policy drives "
            f"{robot}; scenarios of {robot}: {', '.join(n for n in _names_of(robot)) or 'none'}"
        )
    unsupported = sorted({p.family for p in scenario.perturbations if p.family in SENSING_FAMILIES})
    if unsupported:
        raise StressError(
            f"scenario={scenario_name!r}: perturbation families {unsupported} corrupt observations; the stress "
            "search evaluates the world model on the true state and cannot represent them yet"
        )
    return scenario


def _names_of(robot: str) -> list[str]:
    from scenarios.library import names

    out = []
    for n in names():
        try:
            if get(n).robot == robot:
                out.append(n)
        except ScenarioError:
            continue
    return out


def stress(run_dir: Path, conf: StressConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Runs the stress search (module docstring) and writes its JSON report.

    Returns:
        The report (also written to ``conf.out`` or ``<run_dir>/stress/<scenario>-s<seed>.json``).

    Raises:
        StressError: an invalid option, scenario or run directory, named in the message.
    """
    conf.validate()
    t_start = time.perf_counter()
    torch.set_num_threads(conf.threads)
    try:
        run = load_run(run_dir)
    except RunError as err:
        raise StressError(str(err)) from None
    cfg, payload, actor = run.config, run.payload, run.actor
    scenario = resolve(conf.scenario, cfg.robot)
    space = Space(scenario)
    record = robots.get(scenario.robot)
    settings = dict(cfg.robot_settings)
    horizon = conf.horizon or int(settings.get("max_episode_steps", record.defaults["max_episode_steps"]))
    layout = robots.context_layout(scenario.robot)

    margin = None
    if conf.closeness:
        try:
            margin = record.margin(scenario.predicate)
        except UnknownNameError as err:
            raise StressError(f"closeness=true: {err}; pass closeness=false") from None
    model = run_model(run, scenario.name, layout.size) if conf.model in ("auto", "run") else None
    if conf.model == "run" and model is None:
        raise StressError(
            f"model=run: {run_dir} has no world model with context for {scenario.name!r} (it needs a model-based "
            f"run trained with scenarios=[{scenario.name}] and exposure > 0); use model=fit or model=auto"
        )
    if model is not None:
        model_info: dict[str, Any] = {"source": "the run's checkpointed model", "plant_episodes": 0,
                                      "version": model.version()}  # fmt: skip
        log(f"world model: the run's checkpointed model ({model_info['version']}), with context for {scenario.name}")
    else:
        why = "model=fit" if conf.model == "fit" else "the run has no world model with context for this scenario"
        log(f"world model: fitting one for this search ({why}): {conf.fit_episodes} plant episodes ...")
        model, model_info = fit_model(scenario, cfg, payload, actor, conf, horizon, margin)
        log(f"  fitted in {model_info['epochs']} epochs on {model_info['plant_transitions']} plant + "
            f"{model_info['run_transitions']} run transitions (model {model_info['version']})")  # fmt: skip

    # Reset states of the plant: the starts of every model episode.
    base = robots.make(scenario.robot, **settings)
    starts = torch.as_tensor(np.stack([base.reset(seed=stream_seed(conf.seed, _STARTS, i))[0] for i in range(256)]))
    base.close()
    menv = ModelEnv(model, record.termination, _algo(cfg).drop_range_factor)
    predicate = record.predicate(scenario.predicate)
    gen = torch.Generator().manual_seed(stream_seed(conf.seed, _MODEL, 2))
    model_counts = {"model_episodes": 0, "model_steps": 0, "dropped": 0, "terminated": 0}

    shares: list[np.ndarray] = []

    def score(u: np.ndarray, c: np.ndarray) -> np.ndarray:
        """The search's score: the model's failure share plus half its earliness (so among points that
        always fail, those that fail soonest rank first), plus ``NEAR`` times its nearness (so where no
        rollout fails, the closest to failing rank first; it stays below the predicted-failure level)."""
        ctx, imp = model_inputs(space, u, c, horizon)
        share, early, near, counts = model_failures(
            menv, actor, predicate, ctx, imp, starts, conf.rollouts, horizon, gen, conf.model_noise, margin=margin
        )
        for k, v in counts.items():
            model_counts[k] += v
        shares.append(share)
        return share + 0.5 * early + NEAR * near

    log(f"search: cross-entropy over {len(space.cont) + len(space.cat)} parameters, {conf.samples} points x "
        f"{conf.rollouts} model episodes per iteration ...")  # fmt: skip
    cem = cross_entropy(score, len(space.cont), space.sizes, target=PREDICTED, samples=conf.samples,
                        iterations=conf.iterations, rng=np.random.default_rng(stream_seed(conf.seed, _CEM, 0)),
                        elite_frac=conf.elite_frac, defensive=conf.defensive, refine=conf.refine,
                        min_std=conf.min_std)  # fmt: skip
    search_share = np.concatenate(shares)
    model_counts["predicted_points"] = int((search_share >= PREDICTED).sum())  # searched points the model says fail
    for i, it in enumerate(cem.iterations):
        log(f"  iteration {i}: level {it.level:.3f}, {it.elites} elites, {it.above_target} predicted failures")

    confirm = confirmation(scenario, space, cem, search_share, actor, settings, conf, horizon, margin,
                           model_info.get("plant_points"))  # fmt: skip
    estimate, est_points = importance(scenario, space, cem.proposal, actor, settings, conf, horizon, score, shares,
                                      confirm["plant"] if conf.confirm_refit else None, margin)  # fmt: skip
    report = build_report(run_dir, conf, scenario, space, horizon, model_info, cem, confirm, estimate, est_points,
                          model_counts, time.perf_counter() - t_start)  # fmt: skip
    out = Path(conf.out) if conf.out else run_dir / "stress" / f"{scenario.name}-s{conf.seed}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.atomic_write(out, json.dumps(report, indent=2).encode())
    report["path"] = str(out)
    return report


def confirmation(
    scenario: Scenario, space: Space, cem: CEMResult, share: np.ndarray, actor: Actor, settings: dict[str, Any],
    conf: StressConfig, horizon: int, margin: Callable[[np.ndarray], Any] | None = None,
    prior: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """``confirm`` distinct points of the search, each run once on the plant, one after the other.

    The model's picks are spread over its ``confirm_pool`` best (:func:`scenarios.search.spread_top`).
    With ``plant_guided`` and a margin, every second confirmation is instead the searched point whose
    plant margin a linear fit to every plant episode so far predicts least
    (:func:`scenarios.search.least_margin_pick`; ``prior``: the model-data episodes, with a column
    for the ones that sampled the stochastic policy), so the plant's own gradient steers half the
    confirmations where the model's failure region is off. ``share`` is the model's failure share of
    every searched point."""
    model_order = iter(spread_top(cem.u, cem.c, cem.scores, conf.confirm, conf.confirm_pool))
    seen_u, seen_c, seen_e, seen_m = [], [], [], []
    if prior is not None and prior.get("least_margin") is not None:
        seen_u += [np.asarray(x, dtype=np.float64) for x in prior["u"]]
        seen_c += [np.asarray(x, dtype=np.int64) for x in prior["c"]]
        seen_e += [float(x) for x in prior["explore"]]
        seen_m += [float(x) for x in prior["least_margin"]]
    chosen: list[int] = []
    picked_by: list[str] = []
    failed, t_fail, least = [], [], []
    for j in range(conf.confirm):
        pick: int | None = None
        if conf.plant_guided and margin is not None and j % 2 == 1 and seen_m:
            pick = least_margin_pick(np.asarray(seen_u).reshape(len(seen_u), -1),
                                     np.asarray(seen_c, dtype=np.int64).reshape(len(seen_c), -1),
                                     np.asarray(seen_e).reshape(-1, 1), np.asarray(seen_m), cem.u, cem.c,
                                     space.sizes, exclude=chosen)  # fmt: skip
        if pick is not None:
            picked_by.append("plant margin fit")
        else:
            pick = next((i for i in model_order if i not in chosen), None)
            if pick is None:
                break
            picked_by.append("model")
        res = plant_episodes(scenario, settings, actor, [space.perturbations(cem.u[pick], cem.c[pick])],
                             [stream_seed(conf.seed, _CONFIRM, j)], horizon, margin=margin)  # fmt: skip
        chosen.append(pick)
        failed.append(bool(res.failed[0]))
        t_fail.append(int(res.t_fail[0]))
        least.append(float(res.least_margin[0]) if res.least_margin is not None else math.inf)
        seen_u.append(cem.u[pick])
        seen_c.append(cem.c[pick])
        seen_e.append(0.0)
        seen_m.append(least[-1])
    rows = [{"params": space.named(cem.u[i], cem.c[i]), "picked_by": picked_by[j],
             "model_failure_share": float(share[i]), "score": float(cem.scores[i]),
             "model_predicted": bool(share[i] >= PREDICTED), "plant_failed": failed[j], "plant_t_fail": t_fail[j],
             "plant_least_margin": None if margin is None else least[j]}
            for j, i in enumerate(chosen)]  # fmt: skip
    idx = np.asarray(chosen, dtype=np.int64)
    hit = np.asarray(failed, dtype=bool)
    return {"candidates": rows, "failed": hit, "predicted": share[idx] >= PREDICTED,
            "plant": (cem.u[idx], cem.c[idx], hit, None if margin is None else np.asarray(least))}  # fmt: skip


def plant_elites(failed: np.ndarray, least: np.ndarray | None, frac: float) -> tuple[np.ndarray, str]:
    """Which plant episodes a proposal is refitted to: those that failed; when none did and their
    margins are known, the ``frac`` share that came nearest to failing (at least one): a
    cross-entropy level on the plant, so the proposal moves even before the plant's first failure."""
    if failed.any():
        return failed, "plant failures"
    if least is None or least.size == 0:
        return failed, "none"
    nearest = np.zeros(failed.shape, dtype=bool)
    nearest[np.argsort(least, kind="stable")[: max(1, math.ceil(frac * least.size))]] = True
    return nearest, "nearest to failing on the plant"


def importance(
    scenario: Scenario, space: Space, proposal: Proposal, actor: Actor, settings: dict[str, Any],
    conf: StressConfig, horizon: int, score: Callable[[np.ndarray, np.ndarray], np.ndarray],
    shares: list[np.ndarray], confirmed: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None] | None = None,
    margin: Callable[[np.ndarray], Any] | None = None,
) -> tuple[Estimate, dict[str, Any]]:  # fmt: skip
    """``episodes`` plant episodes at points drawn from the proposal, the importance-sampling
    estimate, and the model's failure share at each point.

    With ``confirmed`` (the confirmation's points, unit coordinates and options, their plant outcomes
    and least margins), the proposal is first refitted towards its plant failures, or when none
    failed towards the points nearest to failing (:func:`plant_elites`), by the cross-entropy
    update (equal weights: ``p`` is uniform), smoothed towards the search's proposal: plant
    evidence the search already paid for moves the proposal before any estimate episode is drawn.
    Each proposal is fixed before its draws, so the estimate stays unbiased. After the first stage
    the same rule picks the points to refit to (weighted by ``p/q``).

    With ``adapt > 0`` the estimate has two stages (adaptive importance sampling): ``adapt``
    episodes from the search's proposal; then the proposal is refitted, by the same
    cross-entropy update, to the points that failed *on the plant* (weighted by ``p/q``), and the
    other episodes are drawn from it. Each stage's estimate is unbiased given the stages before
    it; the two are pooled by their episode counts (:func:`pool`). So the plant corrects where
    the model's failure region is off.
    """
    rng = np.random.default_rng(stream_seed(conf.seed, _ESTIMATE, 0))
    n1 = min(conf.adapt, conf.episodes) if conf.adapt else conf.episodes
    q, start = proposal, 0
    refits = []
    if confirmed is not None and confirmed[0].shape[0]:
        u0, c0, f0, m0 = confirmed
        hit, why = plant_elites(f0, m0, conf.elite_frac)
        if hit.any():
            q = refit(q, u0[hit], c0[hit], np.ones(int(hit.sum())), 0.7, conf.min_std, 0.01, conf.defensive)
        refits.append({"before": "stage 1", "to": why, "points": int(hit.sum())})
    stages, failed, share, props = [], [], [], [q]
    for n in (n1, conf.episodes - n1):
        if n == 0:
            continue
        u, c = q.sample(n, rng)
        log_w = q.log_weight(u, c)
        points = [space.perturbations(u[i], c[i]) for i in range(n)]
        seeds = [stream_seed(conf.seed, _ESTIMATE, 1 + start + i) for i in range(n)]
        res = plant_episodes(scenario, settings, actor, points, seeds, horizon, margin=margin)
        stages.append(importance_estimate(res.failed, log_w, q.max_weight()))
        score(u, c)
        failed.append(res.failed)
        share.append(shares[-1])
        start += n
        if start < conf.episodes:
            hit, why = plant_elites(res.failed, res.least_margin, conf.elite_frac)
            if hit.any():
                q = refit(q, u[hit], c[hit], np.exp(log_w[hit]), 0.7, conf.min_std, 0.01, conf.defensive)
            refits.append({"before": f"stage {len(stages) + 1}", "to": why, "points": int(hit.sum())})
        props.append(q)  # the next stage's proposal (the same one when nothing failed)
    est = pool(stages)
    est.extra["stages"] = [{**st.to_dict(), "proposal": pr.to_dict()} for st, pr in zip(stages, props, strict=False)]
    est.extra["refits"] = refits
    return est, {"failed": np.concatenate(failed), "share": np.concatenate(share), "final_proposal": q}


def pool(stages: list[Estimate]) -> Estimate:
    """Stage estimates pooled by their episode counts: ``p̂ = Σ (n_i/n) p̂_i`` and
    ``se = sqrt(Σ (n_i/n)² se_i²)``; a normal 95% interval when any stage saw a failure, else the
    largest stage upper bound scaled by its share (a conservative bound)."""
    if len(stages) == 1:
        return stages[0]
    n = sum(st.n for st in stages)
    p = sum(st.n / n * st.p for st in stages)
    k = sum(st.failures for st in stages)
    ess = float(sum(st.ess for st in stages))
    if k:
        se = math.sqrt(sum((st.n / n * st.se) ** 2 for st in stages if math.isfinite(st.se)))
        return Estimate(p, se, max(0.0, p - Z95 * se), p + Z95 * se, n, k, ess, "normal, stages pooled")
    upper = sum(st.n / n * st.ci_high for st in stages)
    return Estimate(0.0, 0.0, 0.0, upper, n, 0, ess, "zero failures: stage bounds pooled")


def _confusion(predicted: np.ndarray, failed: np.ndarray) -> dict[str, int]:
    return {
        "model_fail_plant_fail": int((predicted & failed).sum()),
        "model_fail_plant_ok": int((predicted & ~failed).sum()),
        "model_ok_plant_fail": int((~predicted & failed).sum()),
        "model_ok_plant_ok": int((~predicted & ~failed).sum()),
    }


def build_report(
    run_dir: Path, conf: StressConfig, scenario: Scenario, space: Space, horizon: int, model_info: dict[str, Any],
    cem: CEMResult, confirm: dict[str, Any], estimate: Estimate, est: dict[str, Any],
    model_counts: dict[str, int], seconds: float,
) -> dict[str, Any]:  # fmt: skip
    """The JSON report (docs/stress_search.md, Output)."""
    predicted = np.concatenate([confirm["predicted"], est["share"] >= PREDICTED])
    failed = np.concatenate([confirm["failed"], est["failed"]])
    n_fit = int(model_info.get("plant_episodes", 0))
    n_confirm, n_est = len(confirm["failed"]), len(est["failed"])
    order = np.flatnonzero(failed)
    first = n_fit + int(order[0]) + 1 if order.size else None
    # A confirmed failure: a point the search put forward (predicted to fail, or, with closeness, the
    # nearest to failing) that failed on the plant; also reported: the first the model predicted.
    conf_fail = np.flatnonzero(confirm["failed"])
    first_confirmed = n_fit + int(conf_fail[0]) + 1 if conf_fail.size else None
    pred_fail = np.flatnonzero(confirm["failed"] & confirm["predicted"])
    first_predicted = n_fit + int(pred_fail[0]) + 1 if pred_fail.size else None
    k = int(predicted.sum())
    rate = float((predicted & failed).sum() / k) if k else None
    return {
        "command": "stress",
        "run_dir": str(run_dir),
        "scenario": scenario.name,
        "robot": scenario.robot,
        "predicate": scenario.predicate,
        "seed": conf.seed,
        "horizon": horizon,
        "policy": "deterministic (tanh of the mean action)",
        "config": asdict(conf),
        "space": [d.describe() for d in [*space.cont, *space.cat]],
        "world_model": model_info,
        "search": {
            "reached": cem.reached,
            "iterations": cem.history(),
            "proposal": cem.proposal.to_dict(),
            **model_counts,
        },
        "confirmation": {
            "candidates": confirm["candidates"],
            "model_predicted": int(confirm["predicted"].sum()),
            "plant_failed": int(confirm["failed"].sum()),
            "confirmed": int((confirm["predicted"] & confirm["failed"]).sum()),
        },
        "estimate": {
            **estimate.to_dict(),
            "method": "importance sampling, w = p/q, q = defensive mixture",
            "max_weight": cem.proposal.max_weight(),
            "final_proposal": est["final_proposal"].to_dict(),
            "model_predicted": int((est["share"] >= PREDICTED).sum()),
        },
        "model_vs_plant": {**_confusion(predicted, failed), "confirmation_rate": rate, "episodes": int(predicted.size)},
        "plant_episodes": {
            "model_data": n_fit,
            "confirmation": n_confirm,
            "estimate": n_est,
            "total": n_fit + n_confirm + n_est,
            "first_failure_at": first,
            "first_confirmed_failure_at": first_confirmed,
            "first_predicted_failure_confirmed_at": first_predicted,
        },
        "seconds": seconds,
    }


def format_table(report: dict[str, Any]) -> str:
    """The report as a short human table."""
    est, mvp, pe = report["estimate"], report["model_vs_plant"], report["plant_episodes"]
    rate = "n/a (no predicted failure)" if mvp["confirmation_rate"] is None else f"{mvp['confirmation_rate']:.2f}"
    first = pe["first_confirmed_failure_at"]
    rows = [
        ("scenario", f"{report['scenario']} ({report['robot']}, predicate {report['predicate']}, "
                     f"horizon {report['horizon']})"),
        ("world model", f"{report['world_model']['source']} ({report['world_model']['version']})"),
        ("search", f"{len(report['search']['iterations'])} cross-entropy iterations, "
                   f"{report['search']['model_episodes']} model episodes, "
                   f"{'reached' if report['search']['reached'] else 'did NOT reach'} predicted failures"),
        ("confirmed", f"{report['confirmation']['plant_failed']} of the top "
                      f"{len(report['confirmation']['candidates'])} points failed on the plant; "
                      f"{report['confirmation']['confirmed']} of the {report['confirmation']['model_predicted']} "
                      "among them the model predicted to fail did"),
        ("confirmation rate", f"{rate} ({mvp['model_fail_plant_fail']} of "
                              f"{mvp['model_fail_plant_fail'] + mvp['model_fail_plant_ok']} plant episodes "
                              f"at model-predicted failures failed; the model missed {mvp['model_ok_plant_fail']})"),
        ("failure probability", f"{est['p']:.3g}  95% CI [{est['ci95'][0]:.3g}, {est['ci95'][1]:.3g}]  "
                                f"({est['failures']} failures in {est['n']} weighted episodes, ESS {est['ess']:.1f})"),
        ("plant episodes", f"{pe['total']} = {pe['model_data']} model data + {pe['confirmation']} confirmation + "
                           f"{pe['estimate']} estimate; first confirmed failure at episode "
                           f"{first if first is not None else 'none'}"),
    ]  # fmt: skip
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
