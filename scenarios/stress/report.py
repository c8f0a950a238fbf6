"""The search's JSON report and its printed table."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from scenarios.library import Scenario
from scenarios.search import (
    CEMResult,
    Estimate,
)
from scenarios.stress.config import PREDICTED, StressConfig
from scenarios.stress.space import Space


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
        ("world model", f"{report['world_model']['source']}: {report['world_model']['settings']['preset']} "
                        f"({report['world_model']['version']})"),
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


def _confusion(predicted: np.ndarray, failed: np.ndarray) -> dict[str, int]:
    return {
        "model_fail_plant_fail": int((predicted & failed).sum()),
        "model_fail_plant_ok": int((predicted & ~failed).sum()),
        "model_ok_plant_fail": int((~predicted & failed).sum()),
        "model_ok_plant_ok": int((~predicted & ~failed).sum()),
    }
