"""Training arms: real-only, synthetic-only and mixed policies on one real-data budget, each
evaluated on the three matched panels, giving the arm x panel table per condition.

* ``real_only``: SAC on real transitions only (the baseline).
* ``synthetic_only``: the world model's preset (``world_model=``, by default
  :data:`pipeline.config.DEFAULT_WORLD_MODEL`) with ``algo.real_ratio=0``: every agent update
  draws model transitions only (the model itself is fitted on the real data).
* ``mixed``: that preset with its configured real ratio, a context-conditioned world model and targeted
  scenario rollouts (``context=true targeted=true``: scenarios/generator.py): real + model.
* ``generated``: SAC on real data and an outside generator's episodes (``generated=[<dataset>]``,
  imported as synthetic, half of every batch): real + generated.
* ``both``: the ``mixed`` arm with the generated episodes too: real + model + generated.
* ``sim``, ``sim_sysid``, ``sim_residual``: SAC on real data and targeted rollouts of that
  sim-stepping source (``sources=[<arm>] targeted=true``, :mod:`pipeline.sources`), half of every
  batch: real + the uncorrected sim (domain randomization), the system-identified sim, or the sim
  with a learned correction.

``arms=[...]`` chooses which arms train (default the first three) and ``candidate`` which one
the gate judges against ``real_only``.

Every arm collects the same number of real env steps (``steps``) under the same real exposure to
the scenarios, so the arms differ only in how they use synthetic data. Runs are trained seed by
seed (a partial job covers every arm) and an existing run directory is resumed, not retrained.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.checkpoint import atomic_write
from pipeline.config import ALGORITHMS, DEFAULT_WORLD_MODEL, TrainConfig
from pipeline.executor import Executor
from pipeline.runs import load_run
from scenarios import Scenario
from scenarios.training import train_with_scenarios
from validation.gate import GateConfig
from validation.stats import bootstrap_mean
from validation.validate import PanelOptions, run_gate, write_all

SIM_ARMS = ("sim", "sim_sysid", "sim_residual")
"""The arms whose synthetic data comes from a sim-stepping source of that name."""
ARMS = ("real_only", "synthetic_only", "mixed", "generated", "both", *SIM_ARMS)
GENERATED_ARMS = ("generated", "both")
"""The arms that import ``ArmsConfig.generated``."""
MODEL_ARMS = ("synthetic_only", "mixed", "both")
"""The arms that train a world model."""
ARM_OVERRIDES: dict[str, list[str]] = {
    "real_only": ["algo=sac"],
    "synthetic_only": [f"algo={DEFAULT_WORLD_MODEL}", "algo.real_ratio=0.0"],
    "mixed": [f"algo={DEFAULT_WORLD_MODEL}", "context=true", "targeted=true"],
    "generated": ["algo=sac", "algo.real_ratio=0.5"],
    "both": [f"algo={DEFAULT_WORLD_MODEL}", "context=true", "targeted=true"],
    **{arm: ["algo=sac", f"sources=[{arm}]", "targeted=true", "algo.real_ratio=0.5"] for arm in SIM_ARMS},
}
"""Training-config overrides that make each arm (applied before the user's own); the model arms'
``algo`` is ``ArmsConfig.world_model`` (:func:`arm_overrides`)."""


@dataclass(frozen=True)
class ArmsConfig:
    """``synthgate arms``: every other ``key=value`` is a training override applied to all arms."""

    robot: str = "Hopper-v5"
    """Registered robot."""
    scenarios: list[str] = field(default_factory=list)
    """Scenarios of the panels (and of real exposure and targeted rollouts in training)."""
    steps: int = 10_000
    """Real env steps per run (the shared real budget)."""
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    """Training seeds; each arm is trained once per seed (a count N is shorthand for 0..N-1: ``seeds=3``)."""
    out: str = "runs/arms"
    """Output directory: runs/<arm>-s<seed>/, validation/ (gate report of mixed vs real_only), arms.json, arms.md."""
    exposure: float = 0.1
    """Probability that a real training episode runs under one of the scenarios (all arms alike)."""
    episodes: int = 20
    """Panel episodes per condition."""
    max_steps: int = 0
    """Panel episode length; 0 takes the runs' max_episode_steps."""
    panel_seed: int = 0
    """Panel seed."""
    threads: int = 1
    """torch threads per run."""
    arms: list[str] = field(default_factory=lambda: ["real_only", "synthetic_only", "mixed"])
    """Arms to train and evaluate (real_only always among them): real_only, synthetic_only, mixed, generated, both,
    sim, sim_sysid, sim_residual."""
    candidate: str = "mixed"
    """The arm the gate judges against real_only."""
    generated: list[str] = field(default_factory=list)
    """Generated datasets (LeRobot, declaring generated:<generator>@<version>) the generated and both arms import."""
    world_model: str = DEFAULT_WORLD_MODEL
    """The model-based preset of the model arms (synthetic_only, mixed, both): one of the model-based
    ``algo`` presets; the real_only and generated arms stay SAC."""
    model: str = ""
    """Run directory whose world model (or sim source) makes the synthetic panel; empty: the candidate's seed-0
    run if it has one, else the seed-0 run of the first arm that has one."""


def arm_overrides(cfg: ArmsConfig, arm: str) -> list[str]:
    """The training overrides that make ``arm``: its preset, and the generated imports where it takes them."""
    model_arm = arm in MODEL_ARMS
    out = [f"algo={cfg.world_model}" if model_arm and o.startswith("algo=") else o for o in ARM_OVERRIDES[arm]]
    if arm in GENERATED_ARMS:
        out.append("+import_datasets=[" + ",".join(f"{{path: '{p}', synthetic: true}}" for p in cfg.generated) + "]")
    return out


def check_arms(cfg: ArmsConfig) -> str | None:
    """What is wrong with the choice of arms, or None."""
    unknown = sorted(set(cfg.arms) - set(ARMS))
    if unknown:
        return f"arms={cfg.arms}: unknown {unknown}; valid: {', '.join(ARMS)}"
    if "real_only" not in cfg.arms or cfg.candidate not in cfg.arms or cfg.candidate == "real_only":
        return (
            f"arms={cfg.arms}, candidate={cfg.candidate}: need real_only (the baseline) and the candidate, another arm"
        )
    model_based = sorted(name for name, spec in ALGORITHMS.items() if spec.model_based)
    if cfg.world_model not in model_based:
        return f"world_model={cfg.world_model!r}: the model arms need a model-based preset: {', '.join(model_based)}"
    if any(a in GENERATED_ARMS for a in cfg.arms) and not cfg.generated:
        return f"arms={cfg.arms}: the generated and both arms need generated=[<dataset>, ...]"
    if cfg.generated and not any(a in GENERATED_ARMS for a in cfg.arms):
        return f"generated={cfg.generated}: no arm imports it; add generated or both to arms"
    if not cfg.model and not any(a in MODEL_ARMS or a in SIM_ARMS for a in cfg.arms):
        return (f"arms={cfg.arms}: none has a world model or sim source for the synthetic panel; add mixed or "
                "sim_residual, or give model=<run_dir>")  # fmt: skip
    return None


def run_dir(cfg: ArmsConfig, arm: str, seed: int) -> Path:
    return Path(cfg.out) / "runs" / f"{arm}-s{seed}"


def finished(cfg: TrainConfig) -> bool:
    """Whether the run ``cfg`` describes has trained its ``steps`` (its ``summary.json`` says so)."""
    path = Path(cfg.run_dir) / "summary.json"
    return path.is_file() and int(json.loads(path.read_text())["steps"]) >= cfg.steps


def train_one(item: tuple[TrainConfig, Sequence[Scenario]]) -> dict[str, Any]:
    """Trains one run (an executor job: picklable in, picklable out): its real exposure and
    (``targeted=true``) targeted generator cover the scenarios. Returns the run's summary."""
    cfg, scenario_list = item
    return train_with_scenarios(cfg, scenario_list)[0]


def train_arms(
    configs: Mapping[tuple[str, int], TrainConfig],
    scenario_list: Sequence[Scenario],
    log: Any = print,
    executor: Executor | None = None,
) -> None:
    """Trains every ``(arm, seed)`` config (seed-major order), skipping finished runs. Each run's
    real exposure and (``targeted=true``) targeted generator cover ``scenario_list``.

    With an ``executor`` the runs are its jobs (a local process pool or Ray tasks), each with its
    progress bar off; without one they run here, one after another. A run's numbers depend only on
    its config (its seed included), not on where it ran."""
    todo = []
    for (arm, seed), cfg in sorted(configs.items(), key=lambda kv: (kv[0][1], ARMS.index(kv[0][0]))):
        if finished(cfg):
            log(f"{arm} seed {seed}: already trained ({cfg.run_dir})")
        else:
            todo.append((arm, seed, cfg))
    if executor is None:
        for arm, seed, cfg in todo:
            log(f"{arm} seed {seed}: training {cfg.steps} steps in {cfg.run_dir}")
            summary = train_one((cfg, scenario_list))
            log(f"{arm} seed {seed}: eval return {summary['eval_return_mean']:.1f}")
        return
    if not todo:
        return
    log(f"training {len(todo)} runs on executor={executor.name}: " + ", ".join(f"{a} seed {s}" for a, s, _ in todo))
    quiet = [(dataclasses.replace(cfg, progress=False), scenario_list) for _, _, cfg in todo]
    for (arm, seed, _), summary in zip(todo, executor.map(train_one, quiet), strict=True):
        log(f"{arm} seed {seed}: eval return {summary['eval_return_mean']:.1f}")


def arms_table(report: Mapping[str, Any], members: Mapping[str, Sequence[str]], config: GateConfig) -> dict[str, Any]:
    """``table[condition][arm][panel]``: the arm's pooled mean metric over its seeds, with a bootstrap CI."""
    table: dict[str, Any] = {}
    for cond in report["conditions"]:
        name = cond["name"]
        table[name] = {"metric": cond["metric"], "arms": {}}
        for arm, runs in members.items():
            row = {}
            for panel in ("real", "synthetic", "mixed"):
                values = np.concatenate([report["panels"][panel]["policies"][r][name]["values"] for r in runs])
                ci = bootstrap_mean(values, config.bootstrap_samples, config.confidence, config.bootstrap_seed)
                row[panel] = ci.to_json()
            table[name]["arms"][arm] = row
    return table


def markdown(table: Mapping[str, Any]) -> str:
    """The arm x panel tables, one per condition, as Markdown."""
    lines: list[str] = []
    for cond, t in table.items():
        lines += [f"### {cond} ({t['metric']})", "", "| arm | real | synthetic | mixed |", "|---|---|---|---|"]
        for arm, row in t["arms"].items():
            cells = [f"{row[p]['estimate']:.3g} [{row[p]['low']:.3g}, {row[p]['high']:.3g}]"
                     for p in ("real", "synthetic", "mixed")]  # fmt: skip
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def evaluate_arms(
    cfg: ArmsConfig, scenario_list: Sequence[Scenario], gate: GateConfig, context_fn: Any = None, note: str = ""
) -> dict[str, Any]:
    """Evaluates every trained run on the matched panels; the gate compares the candidate arm with
    real_only (baseline), the other arms join the ranking rule. Writes the reports and tables."""
    runs = {arm: [load_run(run_dir(cfg, arm, s)) for s in cfg.seeds] for arm in ARMS if arm in cfg.arms}
    order = [cfg.candidate, *(a for a in runs if a != cfg.candidate)]  # the candidate's own source first
    modelled = [runs[a][0] for a in order if runs[a][0].model is not None or runs[a][0].source_env is not None]
    model_run = load_run(Path(cfg.model)) if cfg.model else modelled[0]
    others = [r for arm, rs in runs.items() if arm not in ("real_only", cfg.candidate) for r in rs]
    report = run_gate(
        runs[cfg.candidate], runs["real_only"], scenario_list, references=others,
        model_run=model_run, options=PanelOptions(cfg.episodes, cfg.max_steps, cfg.panel_seed),
        config=gate, context_fn=context_fn, note=note,
    )  # fmt: skip
    members = {arm: [r.name for r in rs] for arm, rs in runs.items()}
    report["arms_table"] = arms_table(report, members, gate)
    out = Path(cfg.out)
    write_all(report, out / "validation")
    atomic_write(out / "arms.json", json.dumps(report["arms_table"], indent=1).encode())
    atomic_write(out / "arms.md", markdown(report["arms_table"]).encode())
    return report
