"""Issue 22's experiment: what a faithful and a shortcut generated set each do to the real panel,
at the same real budget, and whether the gate rejects the shortcut set for the right reason.

    PYTHONPATH=. python studies/generated.py run      # data, the model run, both arms jobs (resumes)
    PYTHONPATH=. python studies/generated.py report   # results/generated/summary.json -> docs/data.md
    PYTHONPATH=. python studies/generated.py report --check

Both jobs are ``synthgate arms`` with ``arms=[real_only,generated] candidate=generated``: the
baseline is SAC on real data; the candidate is SAC with half of every batch drawn from the
stand-in generator's episodes (``studies/standin_generator.py``; :data:`TRANSITIONS` of them),
on the same real budget and the same real exposure. The real_only runs are trained once and
shared by both jobs (same seeds, same config). The synthetic panel's world model is one FTFL
run on the same real budget (:data:`MODEL_RUN`). Run directories live under ``runs/study/generated``
(never committed); ``report`` keeps what the docs need in ``results/generated/summary.json``.
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

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ROBOT, SCENARIO = "Hopper-v5", "hopper_heavy_torso"
STEPS, SEEDS, TRANSITIONS, EPISODES = 10_000, 3, 20_000, 20
RUNS = ROOT / "runs" / "study" / "generated"
MODEL_RUN = RUNS / "model-s0"
SUMMARY = ROOT / "results" / "generated" / "summary.json"
DOC = ROOT / "docs" / "data.md"
VERSIONS = ("faithful", "shortcut")
COMMON = (
    f"robot={ROBOT}", f"scenarios=[{SCENARIO}]", f"steps={STEPS}", "exposure=0.1", "learning_starts=1000",
    "eval_every=0", "eval_episodes=5", "threads=1",
)  # fmt: skip
MODEL = (
    "algo=ftfl", "context=true", "targeted=true", "algo.utd=1", "algo.retrain_every=500",
    "algo.rollouts_per_step=50", "algo.model.hidden=64", "algo.model.depth=2",
    "algo.model.weight_decay=[2.5e-5,5e-5,1e-4]", "algo.model.max_epochs=20", "algo.model.members=5",
    "algo.model.elites=3",
)  # fmt: skip
"""The synthetic panel's world model: FTFL with small networks at UTD 1 (it only has to model the plant)."""


def _run(cmd: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT, env=env)


def arms_command(version: str) -> list[str]:
    return [
        sys.executable, "-m", "synthgate", "arms", *COMMON, f"seeds={SEEDS}", "arms=[real_only,generated]",
        "candidate=generated", f"generated=[{RUNS / 'data' / version}]", f"model={MODEL_RUN}",
        f"out={RUNS / version}", f"episodes={EPISODES}",
    ]  # fmt: skip


def run() -> None:
    for version in VERSIONS:
        data = RUNS / "data" / version
        if not data.exists():
            _run([sys.executable, "studies/standin_generator.py", version, "--robot", ROBOT, "--scenario", SCENARIO,
                  "--transitions", str(TRANSITIONS), "--out", str(data)])  # fmt: skip
    if not (MODEL_RUN / "summary.json").is_file():
        _run([sys.executable, "-m", "synthgate", "train", *COMMON, *MODEL, "seed=0", f"run_dir={MODEL_RUN}"])
    for version in VERSIONS:
        shared = RUNS / VERSIONS[0] / "runs"
        if version != VERSIONS[0]:  # the baseline runs are the same config: train them once
            (RUNS / version / "runs").mkdir(parents=True, exist_ok=True)
            for seed in range(SEEDS):
                link = RUNS / version / "runs" / f"real_only-s{seed}"
                if not link.exists():
                    link.symlink_to(shared / f"real_only-s{seed}")
        _run(arms_command(version))


def collect() -> dict[str, Any]:
    """What the docs need from both jobs' gate reports and arm tables."""
    out: dict[str, Any] = {
        "robot": ROBOT, "scenario": SCENARIO, "steps": STEPS, "seeds": SEEDS, "transitions": TRANSITIONS,
        "episodes": EPISODES, "model_run": list(MODEL), "command": "PYTHONPATH=. python studies/generated.py run",
        "versions": {},
    }  # fmt: skip
    for version in VERSIONS:
        report = json.loads((RUNS / version / "validation" / "gate_report.json").read_text())
        table = json.loads((RUNS / version / "arms.json").read_text())
        rules = [{k: r.get(k) for k in ("name", "scenario", "passed", "detail")} for r in report["rules"]]
        finals = {}
        for arm in ("real_only", "generated"):
            summaries = [json.loads((RUNS / version / "runs" / f"{arm}-s{s}" / "summary.json").read_text())
                         for s in range(SEEDS)]  # fmt: skip
            finals[arm] = [round(float(s["eval_return_mean"]), 1) for s in summaries]
        out["versions"][version] = {"decision": report["decision"], "rules": rules, "arms_table": table,
                                    "eval_return": finals}  # fmt: skip
    return out


def render(summary: dict[str, Any]) -> str:
    lines = [
        "### Faithful and shortcut generated sets at the same real budget (issue 22)", "",
        f"{summary['robot']}, scenario `{summary['scenario']}`, {summary['steps']:,} real env steps per run, "
        f"{summary['seeds']} seeds; the `generated` arm is SAC with half of every batch from "
        f"{summary['transitions']:,} stand-in transitions (`studies/standin_generator.py`); `real_only` is SAC "
        f"on real data. Panels: {summary['episodes']} episodes per condition; the synthetic panel's model is one "
        f"FTFL run ({' '.join(summary['model_run'])}). Regenerate: `{summary['command']}`, then "
        "`PYTHONPATH=. python studies/generated.py report` (source: `results/generated/summary.json`).", "",
        "| set | arm | real panel: nominal return | real panel: failure rate under the scenario | "
        "final eval return per seed |",
        "|---|---|---|---|---|",
    ]  # fmt: skip
    for version, v in summary["versions"].items():
        for arm in ("real_only", "generated"):
            cells = []
            for cond in ("nominal", summary["scenario"]):
                ci = v["arms_table"][cond]["arms"][arm]["real"]
                cells.append(f"{ci['estimate']:.3g} [{ci['low']:.3g}, {ci['high']:.3g}]")
            lines.append(f"| {version} | {arm} | {' | '.join(cells)} | {', '.join(map(str, v['eval_return'][arm]))} |")
    lines += ["", "Gate (candidate `generated` against `real_only`):", ""]
    for version, v in summary["versions"].items():
        failed = [f"`{r['name']}`" + (f" [{r['scenario']}]" if r.get("scenario") else "") for r in v["rules"]
                  if not r["passed"]]  # fmt: skip
        lines.append(f"- {version}: **{v['decision']}**; failed rules: {', '.join(failed) or 'none'}.")
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- BEGIN generated by studies/generated.py -->", "<!-- END generated by studies/generated.py -->"


def report(check: bool) -> int:
    if not check:
        SUMMARY.parent.mkdir(parents=True, exist_ok=True)
        SUMMARY.write_text(json.dumps(collect(), indent=1, sort_keys=True) + "\n")
    text = DOC.read_text()
    block = f"{BEGIN}\n{render(json.loads(SUMMARY.read_text()))}{END}"
    new = (
        text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
        if BEGIN in text
        else text + "\n" + block + "\n"
    )
    if check:
        if new != text:
            print(f"{DOC} differs from {SUMMARY}: run studies/generated.py report")
            return 1
        print(f"{DOC} matches {SUMMARY}")
        return 0
    DOC.write_text(new)
    print(f"wrote {SUMMARY} and {DOC}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("run", "report"))
    parser.add_argument("--check", action="store_true", help="report: fail when the docs differ from the summary")
    args = parser.parse_args(argv)
    if args.command == "run":
        run()
        return 0
    return report(args.check)


if __name__ == "__main__":
    raise SystemExit(main())
