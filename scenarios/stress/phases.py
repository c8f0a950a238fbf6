"""The search's phases end to end (:func:`stress`): model search, plant confirmation, and the
importance-weighted estimate."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import robots
from pipeline import checkpoint
from pipeline.config import stream_seed
from pipeline.model_env import ModelEnv
from pipeline.runs import RunError, load_run
from pipeline.sac import Actor
from robots import gaps
from robots.context import SENSING_FAMILIES
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
from scenarios.stress.config import (
    CEM_STREAM,
    CONFIRM_STREAM,
    ESTIMATE_STREAM,
    MODEL_STREAM,
    NEAR,
    PREDICTED,
    STARTS_STREAM,
    StressConfig,
    StressError,
)
from scenarios.stress.model import (
    fit_model,
    model_failures,
    model_inputs,
    model_settings,
    run_model,
    settings_record,
)
from scenarios.stress.plant import plant_episodes
from scenarios.stress.report import build_report
from scenarios.stress.space import Space


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
        run = load_run(run_dir, payload=True)
    except RunError as err:
        raise StressError(str(err)) from None
    cfg, payload, actor = run.config, run.payload, run.actor
    assert payload is not None  # loaded with payload=True
    scenario = resolve(conf.scenario, cfg.robot)
    space = Space(scenario)
    record = robots.get(scenario.robot)
    settings = dict(cfg.robot_settings)
    horizon = conf.horizon or int(settings.get("max_episode_steps", record.defaults["max_episode_steps"]))
    try:  # the real plant: every robots.make(robot, **settings) of the search builds it with this profile
        settings["gap"] = gaps.get(conf.gap or cfg.gap, cfg.robot)
    except gaps.GapError as err:
        raise StressError(f"gap: {err}") from None
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
        model_info: dict[str, Any] = {"source": "the run's checkpointed model", "settings": settings_record(cfg),
                                      "plant_episodes": 0, "version": model.version()}  # fmt: skip
        log(f"world model: the run's checkpointed model ({model_info['version']}), with context for {scenario.name}")
    else:
        why = "model=fit" if conf.model == "fit" else "the run has no world model with context for this scenario"
        log(f"world model: fitting one for this search ({why}): {conf.fit_episodes} plant episodes ...")
        model, model_info = fit_model(scenario, cfg, payload, actor, conf, horizon, margin)
        log(f"  {model_info['settings']['preset']} model fitted in {model_info['epochs']} epochs on "
            f"{model_info['plant_transitions']} plant + "
            f"{model_info['run_transitions']} run transitions (model {model_info['version']})")  # fmt: skip

    # Reset states of the plant: the starts of every model episode.
    base = robots.make(scenario.robot, **settings)
    starts = torch.as_tensor(
        np.stack([base.reset(seed=stream_seed(conf.seed, STARTS_STREAM, i))[0] for i in range(256)])
    )
    base.close()
    menv = ModelEnv(model, record.termination, model_settings(cfg).drop_range_factor)
    predicate = record.predicate(scenario.predicate)
    gen = torch.Generator().manual_seed(stream_seed(conf.seed, MODEL_STREAM, 2))
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
                        iterations=conf.iterations, rng=np.random.default_rng(stream_seed(conf.seed, CEM_STREAM, 0)),
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
                             [stream_seed(conf.seed, CONFIRM_STREAM, j)], horizon, margin=margin)  # fmt: skip
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
    rng = np.random.default_rng(stream_seed(conf.seed, ESTIMATE_STREAM, 0))
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
        seeds = [stream_seed(conf.seed, ESTIMATE_STREAM, 1 + start + i) for i in range(n)]
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
