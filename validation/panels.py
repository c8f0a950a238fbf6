"""Matched validation panels: real-only, synthetic-only and mixed.

A panel is a set of episodes for nominal conditions and a list of scenarios, evaluated one way:

* **real**: plant episodes. Every episode has its own seed from a stream that training never draws
  from (:data:`PANEL_STREAM`; ``pipeline.train`` uses streams 0-4 of the run's seed), so the panel is
  held out. The plants of one condition are stepped together (a vector of plant instances) and
  the policy acts on the whole batch of observations at once.
* **synthetic**: world-model episodes from the real panel's initial states (and, for a model with a
  context input, the scenario's drawn parameters as context). All episodes of all conditions are
  one tensor, stepped together.
* **mixed**: the real and synthetic episodes of a condition pooled; the synthetic share is recorded.

Panels are matched (common random numbers): every policy compared sees the same episode seeds,
hence the same perturbation draws and initial states on the plant, and the same model-sampling
generator seed on the synthetic panel. Policies act deterministically (the mode of the squashed
Gaussian), so the only randomness is the panel's own. The real panel checks the match: the
initial observations of every policy must be identical, or it raises.

Per episode: return, whether the condition's failure predicate held at any step, the control
step at which it first held (time to failure), length, and (synthetic) whether a dropped
prediction ended it early.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import robots
from pipeline.executor import Executor
from pipeline.model_env import ModelEnv
from pipeline.sac import Actor
from pipeline.world_model import EnsembleDynamics, draw
from robots.context import encode
from robots.perturbations import PerturbedEnv
from scenarios import Scenario

PANEL_STREAM = 100
"""Seed stream of real panel episodes; ``pipeline.train`` draws from streams 0-4 only."""
SYNTHETIC_STREAM = 101
"""Seed stream of the synthetic panel's model-sampling generator."""
NOMINAL = "nominal"
PANELS = ("real", "synthetic", "mixed")
LOWER_IS_BETTER = frozenset({"failure_rate"})
"""Metrics whose improvement is a decrease; every other metric improves by increasing."""

ContextFn = Callable[[Scenario, list[dict[str, Any]]], np.ndarray]
"""Maps a scenario and one episode's drawn perturbations to the world model's context vector."""


def robot_context_fn(robot: str) -> ContextFn:
    """The context training stores (:mod:`robots.context`): each episode's drawn parameters, encoded
    as deviations from nominal; the same function the targeted generator and the buffers use."""
    layout = robots.context_layout(robot)
    return lambda scenario, draws: encode(draws, layout)


def panel_seed(seed: int, condition: int, episode: int) -> int:
    """The plant seed of ``episode`` of condition number ``condition`` of a panel seeded ``seed``."""
    return int(np.random.SeedSequence([seed, PANEL_STREAM, condition, episode]).generate_state(1)[0])


@dataclass(frozen=True)
class Condition:
    """Nominal, or one scenario: what fails (predicates), and the metric that scores it.

    An episode **fails** when any of ``predicates`` (every failure predicate of the robot) holds, or
    when the plant ends it before the horizon for any reason other than time (a model or sim episode:
    when the robot's termination ends it). ``named`` is the scenario's own predicate (nominal: the
    scenarios' predicates), reported beside the failure (:attr:`Episodes.named_failed`): a policy that
    falls instead of tipping fails just as often (issue 32).
    """

    name: str
    scenario: Scenario | None
    predicates: tuple[str, ...]
    metric: str
    named: tuple[str, ...] = ()

    @property
    def lower_is_better(self) -> bool:
        return self.metric in LOWER_IS_BETTER


@dataclass(frozen=True)
class PanelSpec:
    """What every policy compared on a panel sees."""

    robot: str
    """Registered robot (every scenario must belong to it)."""
    scenarios: tuple[Scenario, ...]
    """Scenarios evaluated besides nominal."""
    episodes: int = 20
    """Episodes per condition (nominal and each scenario)."""
    max_steps: int = 1000
    """Control steps per episode (the plant's time limit on the panel)."""
    seed: int = 0
    """Panel seed: episode seeds are drawn from stream PANEL_STREAM of it."""
    num_envs: int = 32
    """Plant instances stepped together on the real panel."""
    robot_settings: Mapping[str, Any] = field(default_factory=dict)
    """Plant settings (as in the run's config), ``max_episode_steps`` excepted."""
    gap: str = "none"
    """The real plant's gap profile (``robots.gaps``): the real panel runs on the robot with it."""

    def __post_init__(self) -> None:
        for s in self.scenarios:
            if s.robot != self.robot:
                raise ValueError(f"scenario {s.name} is a scenario of {s.robot}, not of robot {self.robot}")
        for name in ("episodes", "max_steps", "num_envs"):
            if getattr(self, name) < 1:
                raise ValueError(f"panel {name}={getattr(self, name)!r}: must be >= 1")
        names = [s.name for s in self.scenarios]
        if len(set(names)) != len(names) or NOMINAL in names:
            raise ValueError(f"panel scenarios {names}: names must be distinct and not {NOMINAL!r}")

    def conditions(self) -> list[Condition]:
        """Nominal first (metric: return), then each scenario; every condition fails by any of the
        robot's failure predicates or an early end (:class:`Condition`)."""
        every = tuple(robots.get(self.robot).predicates)
        named = tuple(dict.fromkeys(s.predicate for s in self.scenarios))
        out = [Condition(NOMINAL, None, every, "return", named)]
        out += [Condition(s.name, s, every, s.metric, (s.predicate,)) for s in self.scenarios]
        return out

    def to_json(self) -> dict[str, Any]:
        return {"robot": self.robot, "scenarios": [s.name for s in self.scenarios], "episodes": self.episodes,
                "max_steps": self.max_steps, "seed": self.seed, "num_envs": self.num_envs,
                "seed_stream": PANEL_STREAM, "robot_settings": dict(self.robot_settings), "gap": self.gap}  # fmt: skip


@dataclass
class Episodes:
    """Per-episode results of one policy under one condition on one panel."""

    returns: np.ndarray
    failed: np.ndarray
    failure_step: np.ndarray
    """Control step (1-based) at which the predicate first held; 0 when it never did."""
    length: np.ndarray
    invalid: np.ndarray
    """Synthetic episodes ended early by a dropped (non-finite or out-of-range) prediction."""
    synthetic: np.ndarray
    """Which episodes are synthetic (all False on the real panel, all True on the synthetic one)."""
    named_failed: np.ndarray | None = None
    """Whether the condition's named predicate held at some step (reported beside ``failed``);
    None in logs written before issue 32, whose ``failed`` was the named predicate alone."""

    def __len__(self) -> int:
        return int(self.returns.shape[0])

    def metric(self, name: str, horizon: int) -> np.ndarray:
        """Per-episode values of a metric: ``failure_rate`` 1/0; ``time_to_failure`` the failure step,
        censored at ``horizon`` when the episode did not fail; returns otherwise."""
        if name == "failure_rate":
            return self.failed.astype(np.float64)
        if name == "time_to_failure":
            return np.where(self.failed, self.failure_step, horizon).astype(np.float64)
        if name in ("return", "return_under_perturbation"):
            return self.returns.astype(np.float64)
        raise ValueError(f"unknown metric {name!r}; valid: failure_rate, time_to_failure, return, "
                         "return_under_perturbation")  # fmt: skip

    def to_json(self) -> dict[str, list[Any]]:
        out = {k: getattr(self, k).tolist() for k in ("returns", "failed", "failure_step", "length", "invalid",
                                                       "synthetic")}  # fmt: skip
        if self.named_failed is not None:
            out["named_failed"] = self.named_failed.tolist()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Sequence[Any]]) -> Episodes:
        return cls(
            returns=np.asarray(data["returns"], dtype=np.float64),
            failed=np.asarray(data["failed"], dtype=bool),
            failure_step=np.asarray(data["failure_step"], dtype=np.int64),
            length=np.asarray(data["length"], dtype=np.int64),
            invalid=np.asarray(data["invalid"], dtype=bool),
            synthetic=np.asarray(data["synthetic"], dtype=bool),
            named_failed=np.asarray(data["named_failed"], dtype=bool) if "named_failed" in data else None,
        )

    @staticmethod
    def concat(parts: Sequence[Episodes]) -> Episodes:
        fields = ("returns", "failed", "failure_step", "length", "invalid", "synthetic")
        named = [p.named_failed for p in parts if p.named_failed is not None]
        joined = {k: np.concatenate([getattr(p, k) for p in parts]) for k in fields}
        return Episodes(**joined, named_failed=np.concatenate(named) if len(named) == len(parts) else None)


@dataclass
class Starts:
    """What the matched panels share per condition: each episode's seed, initial observation and
    the perturbation parameters its plant drew on reset."""

    seeds: dict[str, list[int]]
    obs: dict[str, np.ndarray]
    draws: dict[str, list[list[dict[str, Any]]]]


Results = dict[str, dict[str, Episodes]]
"""``results[policy][condition]``."""


def failure_fn(record: robots.RobotRecord, names: Sequence[str]) -> Callable[[Any], Any]:
    fns = [record.predicate(n) for n in names]

    def failed(obs: Any) -> Any:
        if not fns:
            return np.zeros(obs.shape[0], dtype=bool) if isinstance(obs, np.ndarray) else torch.zeros(
                obs.shape[0], dtype=torch.bool, device=obs.device)  # fmt: skip
        out = fns[0](obs)
        for fn in fns[1:]:
            out = out | fn(obs)
        return out

    return failed


def _plant(spec: PanelSpec, condition: Condition) -> PerturbedEnv:
    settings = {**spec.robot_settings, "max_episode_steps": spec.max_steps}
    env = robots.make(spec.robot, gap=spec.gap, **settings)
    return PerturbedEnv(env, list(condition.scenario.perturbations) if condition.scenario else [])


def condition_fns(record: robots.RobotRecord, cond: Condition) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """The condition's failure test (any of its predicates) and its named predicate's test."""
    return failure_fn(record, cond.predicates), failure_fn(record, cond.named)


def book_failures(
    fns: Sequence[tuple[Callable[[Any], Any], Callable[[Any], Any]]],
    live: torch.Tensor,
    live_cond: torch.Tensor,
    next_obs: torch.Tensor,
    ended: torch.Tensor,
    ok: torch.Tensor,
    t: int,
    failed: torch.Tensor,
    fstep: torch.Tensor,
    named: torch.Tensor,
) -> None:
    """One batched step of a model or sim panel: the live rows that failed at step ``t + 1`` (any of
    their condition's predicates, or ``ended`` by the robot's termination) and those whose named
    predicate held, both on valid steps (``ok``) only, booked into ``failed``, ``fstep`` and ``named``."""
    now, said = ended.clone(), torch.zeros_like(ended)
    for ci, (fn, named_fn) in enumerate(fns):
        here = live_cond == ci
        now |= here & torch.as_tensor(fn(next_obs), dtype=torch.bool, device=ended.device)
        said |= here & torch.as_tensor(named_fn(next_obs), dtype=torch.bool, device=ended.device)
    now &= ok
    named[live] |= said & ok
    fstep[live[now & ~failed[live]]] = t + 1
    failed[live] |= now


def _plant_episodes(
    envs: Sequence[PerturbedEnv],
    seeds: Sequence[int],
    actor: Actor,
    fns: tuple[Callable[[Any], Any], Callable[[Any], Any]],
    max_steps: int,
    trace: list[dict[str, list[Any]]] | None = None,
) -> tuple[Episodes, np.ndarray, list[list[dict[str, Any]]]]:
    """Runs one episode per plant, all plants stepped together, the policy batched over them.
    An episode fails at the first step where ``fns[0]`` holds or the plant ended it before its
    time limit; ``fns[1]`` (the named predicate) is recorded beside. With ``trace`` (one dict of
    lists per plant), every transition is recorded there too."""
    failed_fn, named_fn = fns
    n = len(seeds)
    first = [envs[i].reset(seed=int(seeds[i])) for i in range(n)]
    obs = np.stack([np.asarray(o, dtype=np.float32) for o, _ in first])
    starts = obs.copy()
    draws = [list(info.get("perturbations", [])) for _, info in first]
    ret, length = np.zeros(n), np.zeros(n, dtype=np.int64)
    failed, fstep = np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64)
    named, ended = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    alive = np.ones(n, dtype=bool)
    device = next(actor.parameters()).device
    for t in range(max_steps):
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        with torch.inference_mode():
            act = actor.deterministic(torch.as_tensor(obs[idx], device=device)).cpu().numpy()
        for j, i in enumerate(idx.tolist()):
            before = obs[i].copy() if trace is not None else None
            o, r, term, trunc, _ = envs[i].step(act[j])
            if trace is not None:
                for key, value in (("obs", before), ("act", act[j]), ("rew", float(r)), ("next_obs", o),
                                   ("terminated", bool(term))):  # fmt: skip
                    trace[i][key].append(value)
            obs[i] = o
            ret[i] += float(r)
            length[i] += 1
            if term or trunc:
                alive[i] = False
                ended[i] = bool(term)  # ended by the plant, not by its time limit
        now = np.asarray(failed_fn(obs[idx]), dtype=bool) | ended[idx]
        first_time = now & ~failed[idx]
        fstep[idx[first_time]] = t + 1
        failed[idx] |= now
        named[idx] |= np.asarray(named_fn(obs[idx]), dtype=bool)
    episodes = Episodes(ret, failed, fstep, length, np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), named)
    return episodes, starts, draws


def panel_starts(spec: PanelSpec) -> Starts:
    """The panel's episode seeds, initial observations and perturbation draws, from plant resets
    alone (what :func:`real_panel` records, without stepping any plant): a synthetic panel can run
    without a real one, e.g. to screen many more episodes than the plant could afford."""
    starts = Starts({}, {}, {})
    for ci, cond in enumerate(spec.conditions()):
        seeds = [panel_seed(spec.seed, ci, k) for k in range(spec.episodes)]
        env = _plant(spec, cond)
        try:
            first = [env.reset(seed=s) for s in seeds]
        finally:
            env.close()
        starts.seeds[cond.name] = seeds
        starts.obs[cond.name] = np.stack([np.asarray(o, dtype=np.float32) for o, _ in first])
        starts.draws[cond.name] = [list(info.get("perturbations", [])) for _, info in first]
    return starts


Chunk = tuple[Episodes, np.ndarray, list[list[dict[str, Any]]]]


def _real_chunk(job: tuple[PanelSpec, int, Actor, list[int]]) -> Chunk:
    """One chunk of real-panel episodes (one policy, one condition, up to ``num_envs`` plants stepped
    together): the unit of work an executor runs. A pure function of its arguments, run on one torch
    thread (as :func:`_local_chunks`), so a chunk gives the same episodes wherever it runs."""
    spec, ci, actor, seeds = job
    cond = spec.conditions()[ci]
    envs = [_plant(spec, cond) for _ in seeds]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _plant_episodes(envs, seeds, actor, condition_fns(robots.get(spec.robot), cond), spec.max_steps)
    finally:
        torch.set_num_threads(threads)
        for env in envs:
            env.close()


def _local_chunks(
    spec: PanelSpec, policies: Mapping[str, Actor], width: int, seeds_of: Mapping[int, list[int]]
) -> Iterator[Chunk]:
    """The chunks of :func:`real_panel` in its order, in this process, on one torch thread."""
    record = robots.get(spec.robot)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for ci, cond in enumerate(spec.conditions()):
            envs = [_plant(spec, cond) for _ in range(width)]
            fns = condition_fns(record, cond)
            try:
                for actor in policies.values():
                    for begin in range(0, spec.episodes, width):
                        yield _plant_episodes(envs, seeds_of[ci][begin : begin + width], actor, fns,
                                              spec.max_steps)  # fmt: skip
            finally:
                for env in envs:
                    env.close()
    finally:
        torch.set_num_threads(threads)


def real_panel(
    spec: PanelSpec,
    policies: Mapping[str, Actor],
    executor: Executor | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[Results, Starts]:
    """Plant episodes of every policy under every condition, on the panel's held-out seeds.

    The episodes of a condition run in chunks of ``num_envs`` plants stepped together with the
    policy batched over them; ``executor`` (``pipeline.executor``: a local pool or Ray) runs the
    chunks in parallel. Chunks are the same on every executor, so the results are too. Without one,
    chunks run in this process, one after another, reusing their plants.

    ``progress`` is called with one line as each policy finishes each condition.

    Raises:
        RuntimeError: two policies saw different initial observations for the same episode seed
            (the plant is not reproducible under its seed, so the panel would not be matched).
    """
    results: Results = {name: {} for name in policies}
    starts = Starts({}, {}, {})
    conds = spec.conditions()
    width = min(spec.num_envs, spec.episodes)
    seeds_of = {ci: [panel_seed(spec.seed, ci, k) for k in range(spec.episodes)] for ci in range(len(conds))}
    jobs = [(spec, ci, actor, seeds_of[ci][begin : begin + width]) for ci in range(len(conds))
            for actor in policies.values() for begin in range(0, spec.episodes, width)]  # fmt: skip
    if executor is not None:
        outputs: Iterator[tuple[Episodes, np.ndarray, list[list[dict[str, Any]]]]] = iter(
            executor.map(_real_chunk, jobs)
        )
    else:  # in this process, chunk after chunk; one set of plants per condition, reused
        outputs = iter(_local_chunks(spec, policies, width, seeds_of))
    for ci, cond in enumerate(conds):
        for name in policies:
            parts, obs0, draws = [], [], []
            for _begin in range(0, spec.episodes, width):
                ep, s0, d = next(outputs)
                parts.append(ep)
                obs0.append(s0)
                draws += d
            results[name][cond.name] = Episodes.concat(parts)
            if progress:
                done = ci * len(policies) + list(policies).index(name) + 1
                mean = results[name][cond.name].returns.mean()
                progress(f"real panel {done}/{len(conds) * len(policies)}: {cond.name}, {name}: "
                         f"{spec.episodes} episodes, mean return {mean:.1f}")  # fmt: skip
            start = np.concatenate(obs0)
            if cond.name not in starts.obs:
                starts.seeds[cond.name], starts.obs[cond.name], starts.draws[cond.name] = seeds_of[ci], start, draws
            elif not np.array_equal(starts.obs[cond.name], start):
                raise RuntimeError(
                    f"real panel, {cond.name}: policy {name} saw other initial states than "
                    f"{next(iter(policies))} for the same seeds; the panel is not matched"
                )
    return results, starts


def record_real_panel(spec: PanelSpec, actor: Actor) -> list[dict[str, Any]]:
    """The real panel's episodes of one policy, transition by transition: the same plants, seeds,
    chunks and thread setting as :func:`real_panel`, so each recorded episode is the one the panel
    scored. One dict per episode: ``condition``, ``seed`` and the arrays ``obs``, ``act``, ``rew``,
    ``next_obs``, ``terminated``."""
    record = robots.get(spec.robot)
    width = min(spec.num_envs, spec.episodes)
    out: list[dict[str, Any]] = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for ci, cond in enumerate(spec.conditions()):
            seeds = [panel_seed(spec.seed, ci, k) for k in range(spec.episodes)]
            envs = [_plant(spec, cond) for _ in range(width)]
            try:
                for begin in range(0, spec.episodes, width):
                    chunk = seeds[begin : begin + width]
                    trace: list[dict[str, list[Any]]] = [
                        {"obs": [], "act": [], "rew": [], "next_obs": [], "terminated": []} for _ in chunk
                    ]
                    _plant_episodes(envs, chunk, actor, condition_fns(record, cond), spec.max_steps, trace)
                    for seed, t in zip(chunk, trace, strict=True):
                        arrays = {k: np.asarray(v, dtype=bool if k == "terminated" else np.float32)
                                  for k, v in t.items()}  # fmt: skip
                        out.append({"condition": cond.name, "seed": seed, **arrays})
            finally:
                for env in envs:
                    env.close()
    finally:
        torch.set_num_threads(threads)
    return out


def episode_frames(
    spec: PanelSpec, actor: Actor, condition_index: int, episode: int, count: int = 4
) -> tuple[list[np.ndarray], int]:
    """``count`` rendered frames of one real-panel episode, evenly spaced from its start to its first
    failure (or its end), and that step.

    The episode's chunk is played again exactly as :func:`real_panel` played it (same plants, seeds,
    chunk and one torch thread), its actions recorded, then replayed on one fresh plant reset with
    the episode's seed, rendering: the plant is deterministic under its seed, so the frames show the
    episode the panel scored.
    """
    cond = spec.conditions()[condition_index]
    width = min(spec.num_envs, spec.episodes)
    begin = (episode // width) * width
    seeds = [panel_seed(spec.seed, condition_index, k) for k in range(begin, min(begin + width, spec.episodes))]
    envs = [_plant(spec, cond) for _ in seeds]
    trace: list[dict[str, list[Any]]] = [
        {"obs": [], "act": [], "rew": [], "next_obs": [], "terminated": []} for _ in seeds
    ]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        played, _, _ = _plant_episodes(envs, seeds, actor, condition_fns(robots.get(spec.robot), cond),
                                       spec.max_steps, trace)  # fmt: skip
    finally:
        torch.set_num_threads(threads)
        for env in envs:
            env.close()
    i = episode - begin
    stop = int(played.failure_step[i]) if played.failed[i] else int(played.length[i])
    at = {int(t) for t in np.linspace(0, stop, count).round()}
    env = _plant(spec, cond)
    try:
        env.reset(seed=int(seeds[i]))
        frames = [np.asarray(env.render())] if 0 in at else []
        for t, act in enumerate(trace[i]["act"][:stop], start=1):
            env.step(act)
            if t in at:
                frames.append(np.asarray(env.render()))
    finally:
        env.close()
    return frames, stop


def synthetic_panel(
    spec: PanelSpec,
    starts: Starts,
    policies: Mapping[str, Actor],
    model: EnsembleDynamics,
    drop_range_factor: float = 1.0,
    context_fn: ContextFn | None = None,
) -> Results:
    """World-model episodes of every policy from the real panel's initial states.

    Every episode of every condition is one row of one batch, stepped up to ``max_steps`` times
    through :class:`pipeline.model_env.ModelEnv` (the robot's own termination) with a generator
    seeded identically for every policy. Each step draws the random numbers of every row, ended
    ones too, so row ``i`` takes the same model noise and elite at step ``t`` whichever policy runs
    (common random numbers); only rows still running are computed (ended rows leave the batch), and
    each is computed by its drawn elite only (the panel does not use the elites' disagreement). For a
    model with a context input, each scenario episode's context is its drawn parameters encoded by
    ``context_fn`` (default :func:`robot_context_fn`, what training stores); nominal episodes get the
    zero (nominal) context.

    Raises:
        ValueError: ``context_fn`` given for a model without a context input.
    """
    record = robots.get(spec.robot)
    conds = spec.conditions()
    device = model.obs_low.device
    obs0 = torch.as_tensor(np.concatenate([starts.obs[c.name] for c in conds]), device=device)
    sizes = [starts.obs[c.name].shape[0] for c in conds]
    ctx = _contexts(spec, starts, model, context_fn, device)
    row_cond = torch.repeat_interleave(torch.arange(len(conds), device=device), torch.as_tensor(sizes, device=device))
    fail_fns = [condition_fns(record, c) for c in conds]
    env = ModelEnv(model, record.termination, drop_range_factor)
    n = obs0.shape[0]
    results: Results = {}
    for name, actor in policies.items():
        gen = torch.Generator(device=device).manual_seed(
            int(np.random.SeedSequence([spec.seed, SYNTHETIC_STREAM]).generate_state(1)[0])
        )
        ret = torch.zeros(n, dtype=torch.float64, device=device)
        length = torch.zeros(n, dtype=torch.int64, device=device)
        fstep = torch.zeros(n, dtype=torch.int64, device=device)
        failed = torch.zeros(n, dtype=torch.bool, device=device)
        named = torch.zeros(n, dtype=torch.bool, device=device)
        invalid = torch.zeros(n, dtype=torch.bool, device=device)
        live = torch.arange(n, device=device)  # rows still running; the batch holds only these
        obs, live_ctx, live_cond = obs0.clone(), ctx, row_cond
        with torch.inference_mode():
            for t in range(spec.max_steps):
                # Every row's random numbers are drawn, ended rows' too, and each live row takes its own:
                # row i draws the same numbers at step t whichever policy runs (common random numbers).
                draws = draw(model, n, gen, device)
                if live.shape[0] < n:
                    draws = draws.rows(live)
                act = actor.deterministic(obs)
                res = env.step(obs, act, gen, live_ctx, disagreement=False, draws=draws)
                ok = res.valid
                ret[live] += torch.where(ok, res.reward, 0.0).double()
                length[live] += ok.long()
                invalid[live] |= ~ok
                book_failures(fail_fns, live, live_cond, res.next_obs, res.terminated & ok, ok, t, failed, fstep, named)
                going = ok & ~res.terminated
                if bool(going.all()):
                    obs = res.next_obs
                    continue
                live, obs, live_cond = live[going], res.next_obs[going], live_cond[going]
                live_ctx = live_ctx[going] if live_ctx is not None else None
                if live.shape[0] == 0:
                    break
        arrays = [x.cpu().numpy() for x in (ret, failed, fstep, length, invalid, named)]
        per: dict[str, Episodes] = {}
        begin = 0
        for c, size in zip(conds, sizes, strict=True):
            sl = slice(begin, begin + size)
            ret_c, failed_c, fstep_c, length_c, invalid_c, named_c = (a[sl] for a in arrays)
            per[c.name] = Episodes(ret_c, failed_c, fstep_c, length_c, invalid_c, np.ones(size, dtype=bool), named_c)
            begin += size
        results[name] = per
    return results


def _contexts(
    spec: PanelSpec, starts: Starts, model: EnsembleDynamics, context_fn: ContextFn | None, device: torch.device
) -> torch.Tensor | None:
    ctx_dim = int(getattr(model, "ctx_dim", 0))
    if ctx_dim == 0:
        if context_fn is not None:
            raise ValueError("the world model has no context input, but a context function was given")
        return None
    context_fn = context_fn or robot_context_fn(spec.robot)
    rows: list[np.ndarray] = []
    for cond in spec.conditions():
        for draws in starts.draws[cond.name]:
            if cond.scenario is None:
                rows.append(np.zeros(ctx_dim, dtype=np.float32))
            else:
                rows.append(np.asarray(context_fn(cond.scenario, draws), dtype=np.float32))
    return torch.as_tensor(np.stack(rows), device=device)


def mixed_panel(real: Results, synthetic: Results) -> Results:
    """The real and synthetic episodes of each policy and condition, pooled."""
    return {
        name: {cond: Episodes.concat([real[name][cond], synthetic[name][cond]]) for cond in real[name]} for name in real
    }
