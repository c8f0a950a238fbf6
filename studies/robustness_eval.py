"""The evaluation phase of one block of the robustness study (``studies/robustness.py eval``).

Writes ``studies/robustness_logs/<robot>-<budget>.json``, everything the report needs and nothing
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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from studies.robustness import (
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


def synthetic_policies(model_run: str, runs: Mapping[str, Any]) -> list[str]:
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


def evaluate_block(robot: str, budget: int, workers: int = 1) -> Path:
    """Runs the block's panels and writes its log; returns the log's path. ``workers > 1`` runs the
    real panels' chunks on a local pool (the same episodes as in one process)."""
    import scenarios
    from validation.panels import PanelSpec, real_panel, synthetic_panel
    from validation.runs import load_run

    t0 = time.perf_counter()
    scenario_list = tuple(scenarios.get(n) for n in ROBOTS[robot])
    runs = {f"{a.key}-s{s}": load_run(run_path(robot, budget, a.key, s)) for a in arms_of(budget) for s in SEEDS}
    for name, run in runs.items():
        if run.step < budget:
            raise SystemExit(f"{block_name(robot, budget)}: {name} is at step {run.step} < {budget}; train it first")
    actors = {name: run.actor for name, run in runs.items()}
    settings = dict(next(iter(runs.values())).config.robot_settings)
    settings.pop("max_episode_steps", None)
    gt_spec = PanelSpec(robot, scenario_list, GT_EPISODES, HORIZON, GT_SEED, 32, settings)
    gate_spec = PanelSpec(robot, scenario_list, GATE_EPISODES, HORIZON, 0, 32, settings)

    from pipeline.executor import make_executor

    path = LOGS / f"{robot}-{budget}.json"
    old = json.loads(path.read_text()) if path.is_file() else None
    if old is not None and (old["ground_truth_spec"] != gt_spec.to_json() or old["gate_spec"] != gate_spec.to_json()):
        old = None  # other panels: evaluate everything again
    # Panels are matched (common random numbers): a policy's episodes depend on the panel and on it
    # alone, so the runs a previous evaluation of this block covered are kept, not run again.
    todo = [n for n in runs if old is None or n not in old["ground_truth"]]
    executor = make_executor("local", workers) if workers > 1 else None
    gt, _ = real_panel(gt_spec, {n: actors[n] for n in todo}, executor)
    t1 = time.perf_counter()
    gate_real, starts = real_panel(gate_spec, {n: actors[n] for n in todo}, executor)
    synthetic: dict[str, Any] = dict(old["gate_synthetic"]) if old is not None else {}
    for name in todo:
        run = runs[name]
        if run.model is None:
            continue
        policies = {p: actors[p] for p in synthetic_policies(name, runs)}
        panel = synthetic_panel(gate_spec, starts, policies, run.model, run.config.algo.drop_range_factor)
        synthetic[name] = {p: {c: episodes_json(e) for c, e in per.items()} for p, per in panel.items()}
    t2 = time.perf_counter()
    diagnostics: dict[str, Any] = {}
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
        "ledgers": {name: run.ledger for name, run in runs.items()},
        "diagnostics": diagnostics,
        "timing_s": {"ground_truth": round(t1 - t0, 1), "gate_panels": round(t2 - t1, 1)},
    }
    LOGS.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(log, separators=(",", ":"), sort_keys=True))
    tmp.replace(path)
    print(f"{block_name(robot, budget)}: wrote {path}, {len(todo)} runs evaluated (ground truth {t1 - t0:.0f} s, "
          f"gate panels {t2 - t1:.0f} s)",
          flush=True)  # fmt: skip
    return path
