"""Issue 18's robustness study: where does targeted synthetic data make a policy more robust on the
real plant, and does the gate promote exactly then?

    PYTHONPATH=. python studies/robustness.py plan                 # the blocks and what each holds
    PYTHONPATH=. python studies/robustness.py train Hopper-v5:2000 # train one block (resumes its runs)
    PYTHONPATH=. python studies/robustness.py eval Hopper-v5:2000  # its panels -> results/robustness/
    PYTHONPATH=. python studies/robustness.py block Hopper-v5:2000 # train, then eval
    PYTHONPATH=. python studies/robustness.py all                  # every block, smallest budget first
    PYTHONPATH=. python studies/robustness.py errors Hopper-v5:2000 # world-model vs no-change error, into its log
    PYTHONPATH=. python studies/robustness.py report [--check]     # tables and plots from the logs

A **block** is one robot at one real budget: every arm of :data:`ARMS` x :data:`SEEDS`, trained
on the same real budget and exposure (``validation.arms``), under ``preset=quick``
(``synthgate.run_job.QUICK``) with one torch thread per run. Runs live under
``runs/study/robustness/<robot>/<budget>/`` (never committed); an interrupted block resumes them
from their checkpoints, a missing one is retrained. ``eval`` writes one compact JSON log per block
(per-episode panel figures, the run diagnostics, the gate's decisions); ``report`` rebuilds
``docs/robustness.md`` and its plots from those logs only (:mod:`studies.robustness_report`).

Panels (both at :data:`HORIZON` control steps per episode):

* **ground truth**: a large real panel, :data:`GT_EPISODES` episodes per condition, on a panel
  seed the gate never uses (:data:`GT_SEED`);
* **the gate's panels**: the default size (20 episodes per condition, panel seed 0), real and
  synthetic, exactly what ``synthgate validate`` would run.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ROBOTS: dict[str, tuple[str, ...]] = {
    "Hopper-v5": ("hopper_heavy_torso", "hopper_weak_thigh"),
    "Walker2d-v5": ("walker2d_heavy_torso", "walker2d_weak_thigh"),
}
"""The study's robots and the two scenarios of each (real exposure, targeted rollouts, panels)."""
BUDGETS = (2000, 4000, 8000)
"""Real env steps per run (the low-data regime this 2-core machine can afford)."""
SEEDS = (0, 1, 2, 3, 4, 5)
"""Training seeds per arm; arms are paired by seed. Six, so that three disjoint null pairs of one
arm can be judged together at the gate's default ``min_seed_pairs=3``."""


@dataclass(frozen=True)
class Arm:
    """One arm of the study: a ``validation.arms`` arm plus the study's overrides for it."""

    key: str
    """Name in the study's logs and tables."""
    base: str
    """The ``validation.arms.ARM_OVERRIDES`` arm it starts from."""
    overrides: tuple[str, ...] = ()
    """Further ``synthgate train`` overrides."""
    description: str = ""
    budgets: tuple[int, ...] = BUDGETS
    """The blocks (real budgets) the arm is trained in."""


ARMS = (
    Arm("real_only", "real_only", (), "SAC on real data only (the baseline)"),
    Arm("mixed", "mixed", (), "ftfl, context, targeted; real ratio 0.05 (the make run candidate)"),
    Arm("mixed_rr50", "mixed", ("algo.real_ratio=0.5",), "as mixed, real ratio 0.5 (synthetic data a supplement)"),
    Arm("mixed_rr50_fit", "mixed", ("algo.real_ratio=0.5", "algo.model.max_epochs=200"),
        "as mixed_rr50, the world model fitted until its holdout loss stops improving (quick caps it at 20 epochs)",
        (2000, 4000)),
    Arm("mixed_rr50_res", "mixed", ("algo=ftfl_norm_only", "algo.real_ratio=0.5"),
        "as mixed_rr50 with residual targets (ftfl_norm_only): the world model predicts s' - s, not s'",
        (2000, 4000)),
)  # fmt: skip
BASELINE = "real_only"
EXPOSURE = 0.1
"""Probability that a real training episode runs under one of the scenarios (every arm alike)."""
HORIZON = 300
"""Control steps per panel episode (ground truth and the gate's panels)."""
GT_EPISODES = 100
"""Ground-truth real-panel episodes per condition and policy."""
GT_SEED = 1
"""Panel seed of the ground truth (the gate's default panels use seed 0)."""
GATE_EPISODES = 20
"""The gate's default panel size (episodes per condition)."""
RUNS = ROOT / "runs" / "study" / "robustness"
LOGS = ROOT / "results" / "robustness"


def block_name(robot: str, budget: int) -> str:
    return f"{robot}:{budget}"


def blocks() -> list[tuple[str, int]]:
    """Every block, smallest budget first (so a cut-off study still covers every robot)."""
    return [(robot, budget) for budget in BUDGETS for robot in ROBOTS]


def parse_block(text: str) -> tuple[str, int]:
    robot, _, budget = text.rpartition(":")
    if robot not in ROBOTS or not budget.isdigit():
        raise SystemExit(f"block {text!r}: want ROBOT:BUDGET with ROBOT one of {', '.join(ROBOTS)}")
    return robot, int(budget)


def arms_of(budget: int) -> list[Arm]:
    """The arms trained in the block of ``budget``."""
    return [arm for arm in ARMS if budget in arm.budgets]


def run_path(robot: str, budget: int, arm: str, seed: int | str) -> Path:
    return RUNS / robot / str(budget) / f"{arm}-s{seed}"


def train_configs(robot: str, budget: int) -> dict[tuple[str, int], Any]:
    """The ``TrainConfig`` of every (arm, seed) of a block."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    import synthgate.cli  # noqa: F401 - registers the train schema with Hydra, as `synthgate train` does
    from pipeline.config import TrainConfig
    from synthgate.run_job import QUICK
    from validation.arms import ARM_OVERRIDES

    configs: dict[tuple[str, int], Any] = {}
    with initialize_config_module("synthgate.conf", version_base="1.3"):
        for arm in arms_of(budget):
            for seed in SEEDS:
                overrides = [
                    *ARM_OVERRIDES[arm.base], f"robot={robot}", f"steps={budget}", f"seed={seed}",
                    f"run_dir={run_path(robot, budget, arm.key, seed)}", f"scenarios=[{','.join(ROBOTS[robot])}]",
                    f"exposure={EXPOSURE}", "threads=1", "progress=false", *QUICK, *arm.overrides,
                ]  # fmt: skip
                cfg = OmegaConf.to_object(compose("train", overrides=overrides))
                assert isinstance(cfg, TrainConfig)
                configs[(arm.key, seed)] = cfg
    return configs


def train_block(robot: str, budget: int, workers: int, fresh: bool = False) -> None:
    """Trains every run of a block that its evaluation needs and that is not finished yet (a local
    pool of ``workers`` processes); ``fresh``: every run of the block, whatever its log holds."""
    import scenarios
    from studies.robustness_eval import runs_to_load
    from validation.arms import finished

    configs = train_configs(robot, budget)
    scenario_list = [scenarios.get(n) for n in ROBOTS[robot]]
    needed = runs_to_load(robot, budget, fresh)
    todo = [(key, cfg) for key, cfg in sorted(configs.items(), key=lambda kv: kv[0][1])
            if f"{key[0]}-s{key[1]}" in needed and not finished(cfg)]  # fmt: skip
    print(f"{block_name(robot, budget)}: {len(needed)} of its {len(configs)} runs needed by the evaluation, "
          f"{len(todo)} of them to train", flush=True)  # fmt: skip
    train_runs(block_name(robot, budget), todo, scenario_list, workers)


def train_runs(label: str, todo: Sequence[tuple[tuple[str, int], Any]], scenario_list: Sequence[Any],
               workers: int) -> None:  # fmt: skip
    """Trains the ``((arm, seed), config)`` runs of ``todo`` on a local pool of ``workers`` processes
    (here, one after another, for 1), each exposed to and targeting ``scenario_list``."""
    from pipeline.executor import make_executor
    from validation.arms import train_one

    if not todo:
        return
    t0 = time.perf_counter()
    executor = make_executor("local", workers) if workers > 1 else None
    items = [(cfg, scenario_list) for _, cfg in todo]
    results = executor.map(train_one, items) if executor else [train_one(item) for item in items]
    for (key, _), summary in zip(todo, results, strict=True):
        print(f"  {key[0]} seed {key[1]}: eval return {summary['eval_return_mean']:.1f}", flush=True)
    print(f"{label}: trained in {(time.perf_counter() - t0) / 60:.1f} min", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("plan", "train", "eval", "block", "all", "errors", "report"))
    parser.add_argument("block", nargs="?", help="ROBOT:BUDGET (train, eval, block)")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="processes for training runs and real-panel chunks (one torch thread each)",
    )
    parser.add_argument("--check", action="store_true", help="report: fail when the docs differ from the logs")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="train, eval, block: every run of the block, replacing its log (needed when runs the "
        "log holds must be trained again on another host, where training does not reproduce them)",
    )
    args = parser.parse_args(argv)
    if args.command == "plan":
        for robot, budget in blocks():
            log = LOGS / f"{robot}-{budget}.json"
            state = "present" if log.is_file() else "missing"
            print(f"{block_name(robot, budget)}: {len(arms_of(budget))} arms x {len(SEEDS)} seeds; log {state}")
        return 0
    if args.command == "report":
        from studies.robustness_report import report

        return report(check=args.check)
    targets = blocks() if args.command == "all" else [parse_block(args.block or "")]
    if args.command == "errors":
        from studies.robustness_eval import model_errors

        model_errors(*targets[0])
        return 0
    for robot, budget in targets:
        if args.command in ("train", "block", "all"):
            train_block(robot, budget, args.workers, args.fresh)
        if args.command in ("eval", "block", "all"):
            from studies.robustness_eval import evaluate_block, model_errors

            evaluate_block(robot, budget, args.workers, args.fresh)
            model_errors(robot, budget)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
