"""Issue 33: the world model's stopping rule, in the training loop itself.

    PYTHONPATH=. python studies/stop_rule.py run --rules member mbrl:20 --seeds 0 1 2 [--steps 6000]
    PYTHONPATH=. python studies/stop_rule.py report [--check]

``run`` trains ``algo=ftfl`` on dm_control cheetah-run (the loop of issue 33's table: UTD 20, 400
rollout starts per env step, a retrain every 250 env steps after 5,000 uniform random ones, the
60 s wall-clock cap) once per rule and seed, one torch thread. A rule is
``<stop_rule>[:<patience>]`` (``algo.model.stop_rule`` and, when given, ``algo.model.patience``).
The run goes into ``runs/stop_rule/<rule>-s<seed>`` (a run that was cut off resumes from its
checkpoint; a finished one is skipped), then ``results/stop_rule/<rule>-s<seed>.json`` gets every
retrain from the run's ledger (epochs, wall-clock seconds, what stopped it, the elites' holdout MSE,
the reward R² on the retrain's holdout split, the open-loop error 5 and 10 steps ahead on real
segments, in percent) and the final evaluation return.

``--algo ftfl_beta_nll`` runs the project's default world model instead (β-NLL; its runs and logs
are named ``ftfl_beta_nll-<rule>-s<seed>``).

``report`` prints the comparison table from those logs and writes it into docs/performance.md
between the ``stop_rule`` markers (``--check``: fail if the page is stale). The held-out test of
model quality on a fixed data stream is ``studies/retrain_budget.py`` (rules as variants); this
one measures what the loop pays and what it gets.

Reduced for this 2-core machine: 6,000 env steps (1,000 after the random ones: 5 retrains, the
first from scratch), 5 evaluation episodes. The issue's full-scale comparison is
``--steps 7000`` and its matched windows 5,750-7,000 (``benchmarks/ftfl_cheetah.sh``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "stop_rule"
RUNS = ROOT / "runs" / "stop_rule"
PAGE = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- stop_rule:begin -->", "<!-- stop_rule:end -->"
FIELDS = {
    "epochs": "model/epochs",
    "seconds": "model/retrain_s",
    "holdout_mse": "model/holdout_mse_elites",
    "reward_r2": "diag/reward_r2",
    "k5_pct": "diag/model_error_pct_k5",
    "k10_pct": "diag/model_error_pct_k10",
}


def label(rule: str, algo: str = "ftfl") -> str:
    """A rule as given (``<stop_rule>[:<patience>]``) as a file name: ``mbrl:20`` is ``mbrl-p20``; a
    preset other than ``ftfl`` leads it (``ftfl_beta_nll-member``)."""
    return ("" if algo == "ftfl" else f"{algo}-") + rule.replace(":", "-p")


def command(rule: str, seed: int, steps: int, run_dir: Path, algo: str = "ftfl") -> list[str]:
    name, _, patience = rule.partition(":")
    extra = [f"algo.model.patience={patience}"] if patience else []
    return [sys.executable, "-m", "synthgate", "train", "robot=cheetah-run", f"algo={algo}", f"steps={steps}",
            f"seed={seed}", f"algo.model.stop_rule={name}", *extra, "progress=false", f"eval_every={steps}",
            "eval_episodes=5", "log_every=250", "checkpoint_every=500", "threads=1",
            f"run_dir={run_dir}"]  # fmt: skip


def summarize(rule: str, seed: int, steps: int, run_dir: Path, algo: str = "ftfl") -> dict[str, Any]:
    """The run's retrains (from its ledger) and final evaluation (from its metrics)."""
    retrains = []
    for line in (run_dir / "ledger.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event.get("kind") == "retrain" and event.get("source") == "model":
            row = {"step": event["step"], "stopped_by": event["stopped_by"]}
            row.update({k: event.get(v) for k, v in FIELDS.items()})
            retrains.append(row)
    evals = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if '"kind": "eval"' in x]
    final = evals[-1]
    return {"rule": label(rule, algo), "seed": seed, "steps": steps,
            "command": " ".join(command(rule, seed, steps, run_dir, algo)[1:]),
            "retrains": retrains, "final_return": final["return_mean"], "final_returns": final["returns"]}  # fmt: skip


def run_command(opts: argparse.Namespace) -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    for seed in opts.seeds:
        for rule in opts.rules:
            out = RESULTS / f"{label(rule, opts.algo)}-s{seed}.json"
            if out.exists():
                print(f"{out.name}: done", flush=True)
                continue
            run_dir = RUNS / f"{label(rule, opts.algo)}-s{seed}"
            env = {**os.environ, "OMP_NUM_THREADS": "1"}
            subprocess.run(command(rule, seed, opts.steps, run_dir, opts.algo), check=True, cwd=ROOT, env=env)
            log = summarize(rule, seed, opts.steps, run_dir, opts.algo)
            out.write_text(json.dumps(log, indent=1) + "\n")
            warm = log["retrains"][1:]
            print(f"{out.name}: {np.mean([r['epochs'] for r in warm]):.0f} epochs and "
                  f"{np.mean([r['seconds'] for r in warm]):.1f} s per warm retrain, "
                  f"final return {log['final_return']:.1f}", flush=True)  # fmt: skip
    return 0


def table(logs: list[dict[str, Any]]) -> list[str]:
    rules = sorted({g["rule"] for g in logs}, key=lambda r: (r != "member", r))
    steps = sorted({g["steps"] for g in logs})
    lines = [
        f"cheetah-run, {', '.join(map(str, steps))} env steps, one thread, `algo=ftfl` unless the row names "
        "`ftfl_beta_nll`; the warm retrains (the first, from scratch, left out); the mean over seeds of each run's "
        "mean, and the range over seeds; the reward R² and the k-step errors are the loop's own diagnostics "
        "(the retrain's holdout split, real segments of the buffer).",
        "",
        "| rule | seeds | epochs per retrain | s per retrain | capped | holdout MSE (elites) | reward R² (holdout) "
        "| 5-step error % | 10-step error % | final return |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rule in rules:
        mine = [g for g in logs if g["rule"] == rule]

        def cell(key: str, fmt: str, mine: list[dict[str, Any]] = mine) -> str:
            per = [np.mean([r[key] for r in g["retrains"][1:]]) for g in mine]
            return f"{np.mean(per):{fmt}} ({min(per):{fmt}}-{max(per):{fmt}})"

        capped = np.mean([r["stopped_by"] == "wall_clock" for g in mine for r in g["retrains"][1:]])
        finals = [g["final_return"] for g in mine]
        lines.append(
            f"| `{rule}` | {len(mine)} | {cell('epochs', '.0f')} | {cell('seconds', '.1f')} | {capped:.2f} | "
            f"{cell('holdout_mse', '.4f')} | {cell('reward_r2', '.3f')} | {cell('k5_pct', '.1f')} | "
            f"{cell('k10_pct', '.1f')} | {np.mean(finals):.1f} ({min(finals):.1f}-{max(finals):.1f}) |"
        )
    return lines


def report_command(opts: argparse.Namespace) -> int:
    logs = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    block = "\n".join([BEGIN, "Regenerated by `PYTHONPATH=. python studies/stop_rule.py report` from "
                       "`results/stop_rule/`.", "", *table(logs), END])  # fmt: skip
    page = PAGE.read_text()
    if BEGIN not in page:
        print(block)
        return 0
    new = page[: page.index(BEGIN)] + block + page[page.index(END) + len(END) :]
    if opts.check:
        if new != page:
            print(f"{PAGE} is stale: run studies/stop_rule.py report", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(new)
    print("\n".join(table(logs)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="train once per rule and seed, then log the retrains")
    r.add_argument("--rules", nargs="+", default=["member", "mbrl:20"], help="<stop_rule>[:<patience>]")
    r.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    r.add_argument("--steps", type=int, default=6000)
    r.add_argument("--algo", default="ftfl", help="the model-based preset (default ftfl, the issue's loop)")
    q = sub.add_parser("report", help="the comparison table, into docs/performance.md")
    q.add_argument("--check", action="store_true")
    opts = p.parse_args(argv)
    return run_command(opts) if opts.cmd == "run" else report_command(opts)


if __name__ == "__main__":
    raise SystemExit(main())
