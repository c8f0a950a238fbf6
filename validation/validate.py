"""``synthgate validate``: load runs, run the matched panels, apply the gate, write the reports."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import robots
from pipeline.executor import Executor
from pipeline.runs import Run, RunError
from pipeline.sac import Actor
from scenarios import Scenario
from validation import report as reports
from validation.gate import Arms, GateConfig, evaluate, failed_names, pooled
from validation.panels import (
    Condition,
    ContextFn,
    Episodes,
    PanelSpec,
    Results,
    episode_frames,
    mixed_panel,
    panel_seed,
    real_panel,
    synthetic_panel,
)
from validation.source_panel import SourcePanelError, source_panel
from validation.stats import bootstrap_mean


@dataclass(frozen=True)
class PanelOptions:
    """How big the panels are."""

    episodes: int = 20
    """Episodes per condition (nominal and each scenario)."""
    max_steps: int = 0
    """Control steps per episode; 0 takes the runs' ``max_episode_steps`` setting (or the robot's default)."""
    seed: int = 0
    """Panel seed (episode seeds come from a stream training never uses)."""
    num_envs: int = 32
    """Plant instances stepped together on the real panel."""
    gap: str = ""
    """The real plant's gap profile for the real panel; empty: the runs' own ``gap`` (they must agree)."""


def panel_spec(runs: Sequence[Run], scenario_list: Sequence[Scenario], options: PanelOptions) -> PanelSpec:
    """The panel every run will be evaluated on.

    Raises:
        RunError: the runs are of different robots or plant settings.
    """
    robot = runs[0].config.robot
    settings = dict(runs[0].config.robot_settings)
    for run in runs[1:]:
        if run.config.robot != robot or dict(run.config.robot_settings) != settings:
            raise RunError(
                f"{run.path} trains {run.config.robot} with settings {dict(run.config.robot_settings)}, but "
                f"{runs[0].path} trains {robot} with {settings}: panels compare runs of one plant only"
            )
    gaps = {run.config.gap for run in runs}
    if not options.gap and len(gaps) > 1:
        raise RunError(f"the runs were trained on real plants with different gap profiles {sorted(gaps)}: name the "
                       "real plant to validate on (--gap <name|path>)")  # fmt: skip
    steps = options.max_steps or int(settings.pop("max_episode_steps", robots.get(robot).defaults["max_episode_steps"]))
    settings.pop("max_episode_steps", None)
    return PanelSpec(robot, tuple(scenario_list), options.episodes, steps, options.seed, options.num_envs, settings,
                     options.gap or gaps.pop())  # fmt: skip


def summarize(eps: Episodes, cond: Condition, horizon: int, config: GateConfig) -> dict[str, Any]:
    """One panel cell: mean metric with its bootstrap CI, failure rate, return, dropped and synthetic shares."""
    values = eps.metric(cond.metric, horizon)
    ci = bootstrap_mean(values, config.bootstrap_samples, config.confidence, config.bootstrap_seed)
    return {
        "n": len(eps),
        "metric": cond.metric,
        "mean": ci.estimate,
        "ci": ci.to_json(),
        "failure_rate": float(eps.failed.mean()),
        "named_failure_rate": float(eps.named_failed.mean()) if eps.named_failed is not None else None,
        "return_mean": float(eps.returns.mean()),
        "time_to_failure_mean": float(eps.metric("time_to_failure", horizon).mean()),
        "invalid_share": float(eps.invalid[eps.synthetic].mean()) if eps.synthetic.any() else 0.0,
        "synthetic_share": float(eps.synthetic.mean()),
        "values": [float(v) for v in values],
    }


def _unique_names(runs: Sequence[Run]) -> list[str]:
    names: list[str] = []
    for run in runs:
        name = run.name
        while name in names:
            name = f"{run.path.parent.name}/{name}" if "/" not in name else f"{name}'"
        names.append(name)
    return names


def learning_curve(run_dir: Path) -> list[list[float]]:
    """The run's evaluations as ``[env step, mean return]`` pairs (``metrics.jsonl``)."""
    from pipeline.runfiles import read_jsonl

    path = run_dir / "metrics.jsonl"
    events = read_jsonl(path) if path.is_file() else []
    return [[float(e["step"]), float(e["return_mean"])] for e in events if e.get("kind") == "eval"]


def failure_frames(
    spec: PanelSpec, real: Results, actors: dict[str, Actor], names: dict[str, str], count: int
) -> dict[str, dict[str, Any]]:
    """Per condition and arm (``names``: arm -> policy), the first real-panel episode that failed,
    as ``count`` frames from its start to the failure in one JPEG strip (base64), with its episode
    index, seed and failure step. An arm with no failure gets ``{"failed": false}``; a plant that
    cannot render here gets the error's message instead of frames (the gate never depends on them)."""
    import base64

    import cv2

    out: dict[str, dict[str, Any]] = {}
    for ci, cond in enumerate(spec.conditions()):
        out[cond.name] = {}
        for arm, policy in names.items():
            failed = np.flatnonzero(real[policy][cond.name].failed)
            if failed.size == 0:
                out[cond.name][arm] = {"policy": policy, "failed": False}
                continue
            k = int(failed[0])
            entry: dict[str, Any] = {"policy": policy, "failed": True, "episode": k,
                                     "seed": panel_seed(spec.seed, ci, k)}  # fmt: skip
            try:
                shots, step = episode_frames(spec, actors[arm], ci, k, count)
            except Exception as err:  # noqa: BLE001 - no GL here: the report says so, the gate is unaffected
                entry["error"] = f"not rendered: {type(err).__name__}: {err}"
            else:
                strip = cv2.cvtColor(np.concatenate(shots, axis=1), cv2.COLOR_RGB2BGR)
                ok, jpeg = cv2.imencode(".jpg", strip, [cv2.IMWRITE_JPEG_QUALITY, 80])  # a tenth of a PNG's size
                entry.update(step=step, frames=len(shots), jpeg=base64.b64encode(jpeg.tobytes()).decode() if ok else "")
            out[cond.name][arm] = entry
    return out


def run_gate(
    candidates: Sequence[Run],
    baselines: Sequence[Run],
    scenario_list: Sequence[Scenario],
    *,
    references: Sequence[Run] = (),
    model_run: Run | None = None,
    options: PanelOptions | None = None,
    config: GateConfig | None = None,
    context_fn: ContextFn | None = None,
    note: str = "",
    executor: Executor | None = None,
    progress: Callable[[str], None] | None = None,
    frames: int = 4,
) -> dict[str, Any]:
    """Evaluates every run on the three matched panels and applies the gate; returns the gate report.

    Args:
        candidates: candidate runs (several seeds are pooled, paired one to one with ``baselines``).
        baselines: baseline runs trained on the same real budget without targeted synthetic data.
        scenario_list: the scenarios of the panels (nominal is always added).
        references: further runs evaluated for the ranking-agreement rule only.
        model_run: whose world model makes the synthetic panel (default: the first candidate).
        options: panel sizes.
        config: the gate's thresholds.
        context_fn: scenario parameters to model context (for a context-conditioned model).
        note: a sentence shown at the top of the HTML report (e.g. how small the run was).
        executor: where the real panel's chunks run (``pipeline.executor``; None: in this process).
        progress: called with one line as each policy finishes each condition of the real panel,
            and when the synthetic panel starts and ends.
        frames: rendered frames of the first real-panel failure of the first candidate and the first
            baseline under each condition, for the HTML report (:func:`failure_frames`); 0: none.

    Raises:
        RunError: the model run has no world model, or the runs are of different plants.
    """
    options = options or PanelOptions()
    config = config or GateConfig()
    model_run = model_run or candidates[0]
    if model_run.model is None and model_run.source_env is None:
        raise RunError(f"{model_run.path} ({model_run.config.algo.name}) has no world model or sim source for the "
                       "synthetic panel; name a model-based run with --model")  # fmt: skip
    if model_run.model is None and model_run.source_env is not None and model_run.source_env[0] == "oracle":
        raise RunError(f"{model_run.path}: its source is the oracle, the real plant itself: a synthetic "
                       "panel through it agrees with the real panel by construction; name another run with "
                       "--model")  # fmt: skip
    runs = [*candidates, *baselines, *references]
    spec = panel_spec(runs, scenario_list, options)
    names = _unique_names(runs)
    by_name = dict(zip(names, runs, strict=True))
    arms = Arms(tuple(names[: len(candidates)]), tuple(names[len(candidates) : len(candidates) + len(baselines)]))
    actors = {n: r.actor for n, r in by_name.items()}

    t0 = time.perf_counter()
    real, starts = real_panel(spec, actors, executor, progress)
    sim = None
    if spec.gap != "none":  # the sim panel: the same episodes in the sim, beside the real plant's (issue 31)
        if progress:
            progress(f"sim panel: the same seeds and scenarios in the sim (the real panel ran with gap {spec.gap})")
        sim, _ = real_panel(dataclasses.replace(spec, gap="none"), actors, executor, progress)
    t1 = time.perf_counter()
    through = "the world model" if model_run.model is not None else f"{model_run.source_env[0]}"  # type: ignore[index]
    if progress:
        progress(f"synthetic panel: {len(actors)} policies x {len(spec.conditions())} conditions through {through}")
    if model_run.model is not None:
        synth = synthetic_panel(spec, starts, actors, model_run.model, model_run.config.algo.drop_range_factor,
                                context_fn)  # fmt: skip
    else:
        assert model_run.source_env is not None
        try:
            synth = source_panel(spec, starts, actors, model_run.source_env[1])
        except SourcePanelError as err:
            raise RunError(f"{model_run.path}: {err}") from None
    t2 = time.perf_counter()
    if progress:
        progress(f"synthetic panel: done in {t2 - t1:.0f} s")
    panels: dict[str, Results] = {"real": real, "synthetic": synth, "mixed": mixed_panel(real, synth)}
    if sim is not None:  # shown beside the others; the gate's rules read the real and synthetic panels only
        panels["sim"] = sim
    ledgers = {n: by_name[n].ledger for n in arms.candidate}
    decision, rules = evaluate(spec, panels, arms, ledgers, config)

    conds = spec.conditions()
    summary: dict[str, Any] = {}
    for panel, results in panels.items():
        summary[panel] = {
            "arms": {arm: {c.name: summarize(pooled(results, list(members), c.name), c, spec.max_steps, config)
                           for c in conds}
                     for arm, members in (("candidate", arms.candidate), ("baseline", arms.baseline))},
            "policies": {p: {c.name: summarize(results[p][c.name], c, spec.max_steps, config) for c in conds}
                         for p in results},
        }  # fmt: skip
    steps = {k: int(sum(e.length.sum() for per in panels[k].values() for e in per.values()))
             for k in ("real", "synthetic")}  # fmt: skip
    out: dict[str, Any] = {
        "schema_version": reports.SCHEMA_VERSION,
        "decision": decision,
        "failed_rules": failed_names(rules),
        "rules": rules,
        "candidate": str(candidates[0].path),
        "baseline": str(baselines[0].path),
        "robot": spec.robot,
        "scenarios": [s.name for s in scenario_list],
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": dataclasses.asdict(config),
        "panel_spec": spec.to_json(),
        "conditions": [
            {"name": c.name, "metric": c.metric, "predicates": list(c.predicates), "lower_is_better": c.lower_is_better}
            for c in conds
        ],
        "arms": {
            "candidate": list(arms.candidate),
            "baseline": list(arms.baseline),
            "references": names[len(candidates) + len(baselines) :],
        },
        "runs": {
            n: {"path": str(r.path), "algo": r.config.algo.name, "seed": r.config.seed, "step": r.step}
            for n, r in by_name.items()
        },
        "synthetic_model": model_run.name if model_run.model is not None else f"{model_run.name} ({through})",
        "panels": summary,
        "ledger": {n: by_name[n].ledger for n in names},
        "timing": {
            "real_s": t1 - t0,  # the sim panel included when there is one
            "synthetic_s": t2 - t1,
            "real_episode_steps": steps["real"],
            "synthetic_episode_steps": steps["synthetic"],
        },
        "note": note,
        "curves": {n: learning_curve(r.path) for n, r in by_name.items() if n in (*arms.candidate, *arms.baseline)},
    }
    if frames:
        t3 = time.perf_counter()
        shown = {"candidate": arms.candidate[0], "baseline": arms.baseline[0]}
        out["failure_frames"] = failure_frames(spec, real, {k: actors[n] for k, n in shown.items()}, shown, frames)
        out["timing"]["frames_s"] = time.perf_counter() - t3
    return out


def write_all(report: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    """Writes ``gate_report.json`` (schema-checked), ``report.html`` and TensorBoard summaries."""
    path = reports.write_report(report, directory)
    page = reports.write_html(report, directory)
    step = max((r.get("step", 0) for r in report.get("runs", {}).values()), default=0)
    reports.write_tensorboard(report, directory / "tb", int(step))
    return path, page
