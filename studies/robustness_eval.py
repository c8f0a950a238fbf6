"""The evaluation phase of one block of the robustness study (``studies/robustness.py eval``).

Writes ``results/robustness/<robot>-<budget>.json``, everything the report needs and nothing
it could not rebuild from (no checkpoints, no buffers):

* ``ground_truth[run][condition]``: the large held-out real panel, per episode;
* ``gate_real[run][condition]``: the gate's default-size real panel, per episode;
* ``gate_synthetic[model_run][run][condition]``: the gate's synthetic panel made by each
  model-based run's world model, for the policies of every comparison the report gates with that
  model (:func:`synthetic_policies`: the study's pair and the null pairs);
* ``ledgers[run]``: each run's ledger summary (the gate's ``ledger_anchor`` rule);
* ``diagnostics[run]``: the world model's last logged diagnostics (reward R², k-step error,
  ensemble disagreement) and the run's final training evaluation.

Per-episode records keep ``failed``, ``failure_step``, ``length`` and the return (1 decimal).
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from studies.robustness import (
    ARMS,
    BASELINE,
    GATE_EPISODES,
    GT_EPISODES,
    GT_SEED,
    HORIZON,
    LOGS,
    ROBOTS,
    SEEDS,
    arms_of,
    block_name,
    run_path,
)

DIAGNOSTICS = (
    "diag/reward_r2",
    "diag/reward_nrmse",
    "diag/reward_nrmse_rewarded",
    "diag/model_error_pct_k1",
    "diag/model_error_pct_k5",
    "diag/model_error_pct_k10",
    "diag/disagreement",
    "model/holdout_mse_elites",
)
"""TensorBoard scalars of a model-based run kept in the log (their last value)."""
LOG_VERSION = 1


def episodes_json(eps: Any) -> dict[str, list[Any]]:
    """The per-episode fields the study reads, compactly."""
    return {
        "returns": [round(float(r), 1) for r in eps.returns],
        "failed": [int(f) for f in eps.failed],
        "failure_step": [int(s) for s in eps.failure_step],
        "length": [int(n) for n in eps.length],
        "invalid": [int(i) for i in eps.invalid],
    }


def last_scalars(run_dir: Path, tags: tuple[str, ...]) -> dict[str, float]:
    """The last value of each TensorBoard scalar ``tags`` a run logged (absent tags are left out)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    have = set(acc.Tags()["scalars"])
    return {t: float(acc.Scalars(t)[-1].value) for t in tags if t in have}


def synthetic_policies(model_run: str, runs: Collection[str]) -> list[str]:
    """The policies whose synthetic panel ``model_run``'s world model makes: those of every comparison
    the report gates with it (``studies.robustness_report.model_for``): the run itself and its
    same-seed baseline; its null partner (:data:`~studies.robustness_report.NULL_PAIRS`); and, for
    the ``mixed`` model of a null candidate seed, the baseline's null pair, which has no model."""
    from studies.robustness_report import MODEL_ARM, NULL_PAIRS

    arm, seed = model_run.rsplit("-s", 1)
    out = [model_run, f"{BASELINE}-s{seed}"]
    for a, b in NULL_PAIRS:
        if int(seed) == a:
            out.append(f"{arm}-s{b}")
            if arm == MODEL_ARM:
                out.append(f"{BASELINE}-s{b}")
    return [p for p in dict.fromkeys(out) if p in runs]


def run_names(budget: int) -> list[str]:
    """Every run of the block of ``budget``: ``<arm>-s<seed>``."""
    return [f"{a.key}-s{s}" for a in arms_of(budget) for s in SEEDS]


def read_log(robot: str, budget: int) -> dict[str, Any] | None:
    path = LOGS / f"{robot}-{budget}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def write_log(path: Path, log: Mapping[str, Any]) -> Path:
    """Writes a block's log atomically (compact JSON, sorted keys); returns its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(log, separators=(",", ":"), sort_keys=True))
    tmp.replace(path)
    return path


def _model_based(name: str) -> bool:
    arm = name.rsplit("-s", 1)[0]
    return next(a for a in ARMS if a.key == arm).base != BASELINE


def evaluation_todo(names: list[str], old: Mapping[str, Any] | None) -> tuple[set[str], set[str], set[str]]:
    """What an evaluation of a block with runs ``names`` still has to do, given its log ``old``:
    ``(new, models, load)``: the runs with no real panels in the log; the model-based runs whose
    synthetic panel lacks a policy it must hold (:func:`synthetic_policies`); and every run the
    evaluation must load for both (those, plus the policies of those synthetic panels)."""
    if old is None:
        return set(names), {n for n in names if _model_based(n)}, set(names)
    new = {n for n in names if n not in old["ground_truth"]}
    models = {n for n in names if _model_based(n)
              and set(synthetic_policies(n, names)) - set(old["gate_synthetic"].get(n, {}))}  # fmt: skip
    load = new | models | {p for m in models for p in synthetic_policies(m, names)}
    return new, models, load


def runs_to_load(robot: str, budget: int, fresh: bool = False) -> set[str]:
    """The runs of a block its evaluation needs (all of them when ``fresh`` or unless the block's log
    holds some)."""
    return evaluation_todo(run_names(budget), None if fresh else read_log(robot, budget))[2]


def evaluate_block(robot: str, budget: int, workers: int = 1, fresh: bool = False) -> Path:
    """Runs the block's panels and writes its log; returns the log's path. ``workers > 1`` runs the
    real panels' chunks on a local pool (the same episodes as in one process). Only what the block's
    log lacks is evaluated, unless ``fresh``: then every run, and the log is replaced."""
    import scenarios
    from pipeline.runs import load_run
    from validation.panels import PanelSpec, real_panel, synthetic_panel

    t0 = time.perf_counter()
    scenario_list = tuple(scenarios.get(n) for n in ROBOTS[robot])
    path = LOGS / f"{robot}-{budget}.json"
    old = None if fresh else read_log(robot, budget)
    names = run_names(budget)
    new, models, load = evaluation_todo(names, old)
    runs = {n: load_run(run_path(robot, budget, *n.rsplit("-s", 1))) for n in names if n in load}
    for name, run in runs.items():
        if run.step < budget:
            raise SystemExit(f"{block_name(robot, budget)}: {name} is at step {run.step} < {budget}; train it first")
    actors = {name: run.actor for name, run in runs.items()}
    settings = dict(next(iter(runs.values())).config.robot_settings)
    settings.pop("max_episode_steps", None)
    gt_spec = PanelSpec(robot, scenario_list, GT_EPISODES, HORIZON, GT_SEED, 32, settings)
    gate_spec = PanelSpec(robot, scenario_list, GATE_EPISODES, HORIZON, 0, 32, settings)

    from pipeline.executor import make_executor

    if old is not None and (old["ground_truth_spec"] != gt_spec.to_json() or old["gate_spec"] != gate_spec.to_json()):
        raise SystemExit(f"{path}: its panels differ from the study's; move it aside to evaluate the block afresh")
    # Panels are matched (common random numbers): a policy's episodes depend on the panel and on it
    # alone, so the runs a previous evaluation of this block covered are kept, not run again. A run
    # trained again (for a synthetic panel) must be the same policy the log holds; its final
    # evaluation return is the check. On another host it is not (floating-point kernels differ, and RL
    # amplifies the difference): measured, Hopper-v5:2000 real_only-s0 retrained 139.0 against 92.9.
    for name in sorted(load - new):
        logged = old["diagnostics"][name]["eval_return_mean"] if old else None
        summary = json.loads((runs[name].path / "summary.json").read_text())
        if logged is not None and float(summary["eval_return_mean"]) != logged:
            raise SystemExit(f"{name}: retrained, it evaluates to {summary['eval_return_mean']} where the log has "
                             f"{logged}; training did not reproduce it: run the block with --fresh")  # fmt: skip
    todo = sorted(new)
    executor = make_executor("local", workers) if workers > 1 else None
    gt, _ = real_panel(gt_spec, {n: actors[n] for n in todo}, executor)
    t1 = time.perf_counter()
    gate_real, starts = real_panel(gate_spec, {n: actors[n] for n in todo}, executor)
    synthetic: dict[str, Any] = dict(old["gate_synthetic"]) if old is not None else {}
    for name in sorted(models):
        run = runs[name]
        assert run.model is not None  # models holds model-based runs only
        policies = {p: actors[p] for p in synthetic_policies(name, names)}
        panel = synthetic_panel(gate_spec, starts, policies, run.model, run.config.algo.drop_range_factor)
        synthetic[name] = {p: {c: episodes_json(e) for c, e in per.items()} for p, per in panel.items()}
    t2 = time.perf_counter()
    diagnostics: dict[str, Any] = dict(old["diagnostics"]) if old is not None else {}
    for name, run in runs.items():
        summary = json.loads((run.path / "summary.json").read_text())
        diagnostics[name] = {"eval_return_mean": float(summary["eval_return_mean"]),
                             **last_scalars(run.path, DIAGNOSTICS)}  # fmt: skip
    log = {
        "log_version": LOG_VERSION,
        "robot": robot,
        "budget": budget,
        "scenarios": list(ROBOTS[robot]),
        "arms": {
            a.key: {"base": a.base, "overrides": list(a.overrides), "description": a.description}
            for a in arms_of(budget)
        },
        "seeds": list(SEEDS),
        "horizon": HORIZON,
        "ground_truth_spec": gt_spec.to_json(),
        "gate_spec": gate_spec.to_json(),
        "conditions": [
            {"name": c.name, "metric": c.metric, "lower_is_better": c.lower_is_better} for c in gate_spec.conditions()
        ],
        "ground_truth": {
            **(old["ground_truth"] if old else {}),
            **{p: {c: episodes_json(e) for c, e in per.items()} for p, per in gt.items()},
        },
        "gate_real": {
            **(old["gate_real"] if old else {}),
            **{p: {c: episodes_json(e) for c, e in per.items()} for p, per in gate_real.items()},
        },
        "gate_synthetic": synthetic,
        "ledgers": {**(old["ledgers"] if old else {}), **{name: run.ledger for name, run in runs.items()}},
        "diagnostics": diagnostics,
        "timing_s": {"ground_truth": round(t1 - t0, 1), "gate_panels": round(t2 - t1, 1)},
    }
    write_log(path, log)
    print(f"{block_name(robot, budget)}: wrote {path}, {len(todo)} runs' real panels and {len(models)} synthetic "
          f"panels evaluated (ground truth {t1 - t0:.0f} s, "
          f"gate panels {t2 - t1:.0f} s)",
          flush=True)  # fmt: skip
    return path


ERROR_KS = (1, 10)
ERROR_SEGMENTS = 512


def model_errors(robot: str, budget: int) -> Path:
    """Adds to a block's log each model-based run's k-step error (``k`` in :data:`ERROR_KS`) of its
    final world model next to the error of predicting no change, on the same segments of the run's
    real buffer (``pipeline.diagnostics.kstep_errors``, :data:`ERROR_SEGMENTS` segments drawn with
    generator seed 0): ``diagnostics[run]["errors/model_pct_k1"]``, ``["errors/no_change_pct_k1"]``...
    Reads the runs' final checkpoints, so it needs the block's run directories; a run whose final
    evaluation differs from the log's (trained again elsewhere) is refused."""
    import torch

    from pipeline import checkpoint, diagnostics
    from pipeline.run_state import new_state
    from pipeline.runs import load_run

    log = read_log(robot, budget)
    if log is None:
        raise SystemExit(f"{block_name(robot, budget)}: no log yet; evaluate the block first")
    done = 0
    for name in run_names(budget):
        if not _model_based(name) or name not in log["diagnostics"]:
            continue
        path = run_path(robot, budget, *name.rsplit("-s", 1))
        found = checkpoint.load_latest(path / "checkpoints") if path.is_dir() else None
        if found is None:
            raise SystemExit(f"{name}: no checkpoint under {path}; the errors need the block's run directories")
        summary = json.loads((path / "summary.json").read_text())
        if float(summary["eval_return_mean"]) != log["diagnostics"][name]["eval_return_mean"]:
            raise SystemExit(f"{name}: {path} is not the run the log holds (its final evaluation differs)")
        payload = found[1]
        cfg = load_run(path).config
        state = new_state(cfg, payload["buffer"]["obs"].shape[1], payload["buffer"]["act"].shape[1],
                          torch.device("cpu"))  # fmt: skip
        state.restore(payload)
        model = state.sources["model"].model  # type: ignore[attr-defined]
        errors = diagnostics.kstep_errors(model, state.buffer, ERROR_KS, ERROR_SEGMENTS,
                                          torch.Generator().manual_seed(0))  # fmt: skip
        for k in ERROR_KS:
            log["diagnostics"][name][f"errors/model_pct_k{k}"] = round(errors[f"diag/model_error_pct_k{k}"], 2)
            log["diagnostics"][name][f"errors/no_change_pct_k{k}"] = round(errors[f"diag/no_change_error_pct_k{k}"], 2)
        done += 1
    out = write_log(LOGS / f"{robot}-{budget}.json", log)
    print(f"{block_name(robot, budget)}: k-step errors of {done} world models added to {out}", flush=True)
    return out
