"""Issue 32's study: does targeted synthetic data cut the real failures of a simulation-trained
policy, how much of the perfect-data gain does each source recover, and does the gate know?

    PYTHONPATH=. python studies/targeted.py plan                   # the blocks and what each holds
    PYTHONPATH=. python studies/targeted.py train Hopper-v5:5000   # train one block (resumes its runs)
    PYTHONPATH=. python studies/targeted.py eval Hopper-v5:5000    # its panels -> results/targeted/
    PYTHONPATH=. python studies/targeted.py block Hopper-v5:5000   # train, then eval
    PYTHONPATH=. python studies/targeted.py report [--check]       # docs/targeted.md from the logs

Every run starts from the robot's shipped sim policy (``init_from=shipped``) and fine-tunes on
the ``default`` real plant (``gap=default``) for the block's real budget, with the same rare real
exposure to the scenarios (:data:`EXPOSURE`). The arms (:data:`ARMS`) differ only in the
synthetic data added to that budget: none (``real_only``), targeted rollouts of the uncorrected
sim (``sim``: domain randomization), the system-identified sim, the pure world model, the
corrected sim, and the real plant itself (``oracle``: perfect synthetic data, from the same starts
and in the same amount; no user has it). Every arm also runs **anchored** (``<arm>_anchor``,
``sac.anchor``: the actor held near the shipped policy) and is then compared with the anchored
baseline; the anchored setting is the study's main one since the first Hopper-v5 block showed the
plain fine-tune collapsing runs in every arm. A **block** is one robot at one real budget; its runs
live under ``runs/study/targeted/<robot>/<budget>/`` (never committed), an interrupted block
resumes them, and ``eval`` writes one compact log per block (per-episode panels, so the gate can
be replayed) that ``report`` reads (:mod:`studies.targeted_report`).

Panels (:data:`HORIZON` control steps per episode, on the ``default`` real plant):

* **ground truth**: :data:`GT_EPISODES` episodes per condition and policy on a panel seed the gate
  never uses (:data:`GT_SEED`);
* **the gate's panels**: the default size (20 episodes per condition, panel seed 0), real, and
  synthetic through each source run's own source (the panel makers of :func:`panel_policies`).

Reduced settings (2 cores; docs/targeted.md states them beside the tables): ``preset=quick``
(UTD 1, world model and correction 5 x 64 x 2, at most 20 epochs per refit), one torch thread
per run, and fine-tuning learning rates lowered to :data:`FINE_TUNE` (measured: at the library's
3e-4 the shipped Hopper-v5 policy lost most of its return within 1,000 real steps in every seed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from studies.robustness import ROBOTS  # noqa: E402 - the same robots and scenarios as the first study
from synthgate.run_job import ANCHOR, FINE_TUNE  # noqa: E402 - synthgate run's fine-tuning setting is this study's

# (the scenarios' ranges are now calibrated to the ``default`` real plant: docs/sim_to_real.md)
GAP = "default"
BUDGETS = (5000, 20000)
"""Real env steps of fine-tuning: every arm at the first; at the second the anchored ``real_only``,
``oracle`` and best source (:attr:`Arm.budgets`)."""
SEEDS = (0, 1, 2, 3, 4, 5)
"""Training seeds per arm, paired by seed across arms; split in halves (0, 2, 4 against 1, 3, 5)
for the null decisions."""
MORE_SEEDS = {arm: (6, 7, 8, 9, 10, 11) for arm in
              ("real_only_anchor10", "oracle_anchor10", "sim_sysid_anchor10", "sim_residual_anchor10")}  # fmt: skip
"""Seeds beyond :data:`SEEDS` for the arms whose interval was wider than their effect at 6 (the
weaker anchor on the weak thigh): their cells use every seed, the gate's decisions and the panels'
rankings the first six only."""


def seeds_of(arm: str) -> tuple[int, ...]:
    """The training seeds of ``arm``: :data:`SEEDS`, and :data:`MORE_SEEDS` where it has them."""
    return SEEDS + MORE_SEEDS.get(arm, ())


EXPOSURE = 0.1
"""Probability that a real training episode runs under one of the scenarios (every arm alike)."""
SYNTHETIC = ("targeted=true", "algo.real_ratio=0.5")
"""Every source arm: targeted rollouts, half of each batch real."""
ANCHORS = {"_anchor": ANCHOR, "_anchor10": 10.0}
"""The fine-tuning settings beside the plain one: an arm key's suffix -> its ``sac.anchor``
(:func:`anchored`). ``_anchor`` is the study's main setting; ``_anchor10`` was added when the oracle
added nothing at 100 on either robot (the baseline and the oracle first, then every user source when
the oracle's interval came off 0 at 10 on Walker2d-v5; not the shortcut, rejected at 100)."""


BASELINE = "real_only"
ORACLE = "oracle"


@dataclass(frozen=True)
class Arm:
    """One arm: its ``synthgate train`` overrides and the synthetic panel it is judged with."""

    key: str
    overrides: tuple[str, ...]
    description: str
    panel: str | None
    """The arm whose source makes this arm's synthetic panel for the gate (None: the baseline,
    which is only ever gated inside another arm's comparison)."""
    budgets: tuple[int, ...] = (BUDGETS[0],)


PLAIN = (
    Arm("real_only", ("algo=sac",), "fine-tuned on real data only (the baseline)", None),
    Arm("sim", ("algo=sac", "sources=[sim]", *SYNTHETIC), "+ targeted rollouts of the uncorrected sim", "sim"),
    Arm("sim_sysid", ("algo=sac", "sources=[sim_sysid]", *SYNTHETIC), "+ the system-identified sim's", "sim_sysid"),
    Arm("model", ("algo=ftfl_beta_nll", "context=true", *SYNTHETIC), "+ the pure world model's (the default)",
        "model"),
    Arm("sim_residual", ("algo=sac", "sources=[sim_residual]", *SYNTHETIC), "+ the corrected sim's",
        "sim_residual"),
    Arm("oracle", ("algo=sac", "sources=[oracle]", *SYNTHETIC),
        "+ the real plant's own (perfect data; judged with the corrected sim's panel)", "sim_residual"),
    Arm("shortcut", ("algo=sac", "algo.real_ratio=0.5"),
        "+ 20,000 transitions of the stand-in generator's shortcut version (no falls; must be rejected)",
        "sim_residual"),
)  # fmt: skip
"""The arms at the library's fine-tuning (no anchor)."""
MAIN_SUFFIX = "_anchor"
SHORTCUT = "shortcut"
SHORTCUT_TRANSITIONS = 20_000
BASELINE_PANEL = "sim_residual"
"""Whose source makes the synthetic panel of a comparison between runs without one (null decisions
of the baseline; at an anchored setting the main anchored setting's run: :func:`baseline_panel`)."""


def anchored(arm: Arm, suffix: str = MAIN_SUFFIX) -> Arm:
    """``arm`` with the actor anchored to the shipped policy (``sac.anchor`` = ``ANCHORS[suffix]``),
    judged with the anchored run of its panel source (at the main anchored setting, the only one
    that has every source). The larger budget: the baseline and the oracle at the main setting."""
    weight = ANCHORS[suffix]
    budgets = BUDGETS if arm.key in (BASELINE, ORACLE) and suffix == MAIN_SUFFIX else (BUDGETS[0],)
    return Arm(arm.key + suffix, (*arm.overrides, f"sac.anchor={weight}"),
               f"{arm.description}; the actor anchored to the shipped policy (sac.anchor={weight})",
               arm.panel and arm.panel + MAIN_SUFFIX, budgets)  # fmt: skip


ARMS = (
    *PLAIN,
    *(anchored(a) for a in PLAIN),
    *(anchored(a, "_anchor10") for a in PLAIN if a.key != SHORTCUT),
)
"""Every arm: the plain ones, then each anchored at the main setting (added after the first
Hopper-v5 block showed fine-tuning collapsing 1-3 of 6 runs of every arm), then every arm but the
shortcut at the weaker anchor; the larger budget is run at the main anchored setting only
(``real_only_anchor``, ``oracle_anchor`` and the best anchored source by ``--add``)."""
START = "start"
"""The shipped sim policy itself, untouched: on every panel beside the fine-tuned runs."""
NULL_SPLIT = ((0, 2, 4), (1, 3, 5))
"""A null decision: one arm's seeds in two halves, candidate against baseline (3 seed pairs)."""
HORIZON = 1000
GT_EPISODES = 100
GT_SEED = 1
GATE_EPISODES = 20
RUNS = ROOT / "runs" / "study" / "targeted"
LOGS = ROOT / "results" / "targeted"
LOG_VERSION = 1


def parse_block(text: str) -> tuple[str, int]:
    robot, _, budget = text.rpartition(":")
    if robot not in ROBOTS or not budget.isdigit() or int(budget) not in BUDGETS:
        raise SystemExit(f"block {text!r}: want ROBOT:BUDGET, ROBOT one of {', '.join(ROBOTS)}, BUDGET one of "
                         f"{', '.join(map(str, BUDGETS))}")  # fmt: skip
    return robot, int(budget)


def arms_of(budget: int, extra: Sequence[str] = ()) -> list[Arm]:
    """The arms trained in the block of ``budget`` (``extra``: arms added to it by name, the best
    source at the larger budget)."""
    return [a for a in ARMS if budget in a.budgets or a.key in extra]


def run_path(robot: str, budget: int, arm: str, seed: int | str) -> Path:
    return RUNS / robot / str(budget) / f"{arm}-s{seed}"


def train_configs(robot: str, budget: int, extra: Sequence[str] = ()) -> dict[tuple[str, int], Any]:
    """The ``TrainConfig`` of every (arm, seed) of a block."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    import synthgate.cli  # noqa: F401 - registers the train schema with Hydra, as `synthgate train` does
    from pipeline.config import TrainConfig
    from synthgate.run_job import QUICK

    configs: dict[tuple[str, int], Any] = {}
    with initialize_config_module("synthgate.conf", version_base="1.3"):
        for arm in arms_of(budget, extra):
            for seed in seeds_of(arm.key):
                overrides = [
                    *arm.overrides, f"robot={robot}", f"gap={GAP}", "init_from=shipped", f"steps={budget}",
                    f"seed={seed}", f"run_dir={run_path(robot, budget, arm.key, seed)}",
                    f"scenarios=[{','.join(ROBOTS[robot])}]", f"exposure={EXPOSURE}", "threads=1", "progress=false",
                    *QUICK, *FINE_TUNE,
                ]  # fmt: skip
                if plain(arm.key) == SHORTCUT:
                    overrides.append(f"import_datasets=[{{path: {shortcut_data(robot)}, synthetic: true}}]")
                cfg = OmegaConf.to_object(compose("train", overrides=overrides))
                assert isinstance(cfg, TrainConfig)
                configs[(arm.key, seed)] = cfg
    return configs


def shortcut_data(robot: str) -> Path:
    """The stand-in generator's shortcut dataset for ``robot`` (its first scenario, on the real plant)."""
    return RUNS / "generated" / f"{robot}-shortcut"


def make_shortcut_data(robot: str) -> None:
    """Writes :func:`shortcut_data` unless it is there (``studies/standin_generator.py shortcut``)."""
    from studies import standin_generator

    out = shortcut_data(robot)
    if not out.exists():
        standin_generator.main(["shortcut", "--robot", robot, "--scenario", ROBOTS[robot][0], "--transitions",
                                str(SHORTCUT_TRANSITIONS), "--gap", GAP, "--out", str(out)])  # fmt: skip


def train_block(robot: str, budget: int, workers: int, extra: Sequence[str] = (), only: Sequence[str] = ()) -> None:
    """Trains every run of a block that is not finished (a local pool of ``workers`` processes);
    ``only``: just these arms' (the ones a finding needs first)."""
    import scenarios
    from studies.robustness import train_runs
    from validation.arms import finished

    configs = train_configs(robot, budget, extra)
    todo = [(key, cfg) for key, cfg in sorted(configs.items(), key=lambda kv: kv[0][1])
            if not finished(cfg) and (not only or key[0] in only)]  # fmt: skip
    if any(plain(arm) == SHORTCUT for (arm, _), _ in todo):  # its dataset, only when a shortcut run needs it
        make_shortcut_data(robot)
    print(f"{robot}:{budget}: {len(configs)} runs, {len(todo)} to train", flush=True)
    train_runs(f"{robot}:{budget}", todo, [scenarios.get(n) for n in ROBOTS[robot]], workers)


def run_names(budget: int, extra: Sequence[str] = ()) -> list[str]:
    return [f"{a.key}-s{s}" for a in arms_of(budget, extra) for s in seeds_of(a.key)]


def suffix_of(arm: str) -> str:
    """``arm``'s fine-tuning setting: the :data:`ANCHORS` suffix of its key, or "" (plain)."""
    return next((s for s in sorted(ANCHORS, key=len, reverse=True) if arm.endswith(s)), "")


def is_anchored(name: str) -> bool:
    """Whether an arm or a run (``<arm>-s<seed>``) fine-tunes anchored, at any anchor (its family)."""
    return bool(suffix_of(name.rsplit("-s", 1)[0] if "-s" in name else name))


def plain(arm: str) -> str:
    """The plain arm an anchored arm anchors (``arm`` itself for a plain one)."""
    return arm.removesuffix(suffix_of(arm))


def setting(arm: str, plain_arm: str) -> str:
    """``plain_arm`` at ``arm``'s fine-tuning setting (anchored or not)."""
    return plain_arm + suffix_of(arm)


def baseline_panel(arm: str) -> str:
    """Who makes the synthetic panel of ``arm`` when its arm names none (the baselines):
    :data:`BASELINE_PANEL`, at the main anchored setting for every anchored one."""
    return BASELINE_PANEL + (MAIN_SUFFIX if suffix_of(arm) else "")


def baseline_of(arm: str) -> str:
    """The baseline ``arm`` is compared with: ``real_only`` at the same fine-tuning setting."""
    return setting(arm, BASELINE)


def compared_with(arm: str) -> str | None:
    """What ``arm``'s cell and gate decisions compare it with: ``real_only`` at its own fine-tuning
    setting; for an anchored baseline, the plain one (the anchor's own effect); None for
    ``real_only``."""
    base = baseline_of(arm)
    if arm != base:
        return base
    return None if arm == BASELINE else BASELINE


def null_partner(seed: int) -> int | None:
    """The seed a null decision pairs ``seed`` with (its place in the other half), or None."""
    a, b = NULL_SPLIT
    return b[a.index(seed)] if seed in a else None


def panel_source(arm: str) -> str:
    """The arm whose source makes ``arm``'s synthetic panel: its own :attr:`Arm.panel`, or for an arm
    without one (the baseline and the anchored baseline) :data:`BASELINE_PANEL` at its setting."""
    return next(a for a in ARMS if a.key == arm).panel or baseline_panel(arm)


def panel_policies(names: Sequence[str]) -> dict[str, list[str]]:
    """Which policies each panel maker (a run with a source of its own) runs on the gate's synthetic
    panel: every policy of the block of its own family (plain or anchored) for each source's seed-0
    run (whether the panel ranks policies as the real plant does), and for every maker the
    comparisons the report gates with it: its own arm's and the arms it judges (:attr:`Arm.panel`),
    each with the same-seed run it is compared with (:func:`compared_with`), and the null
    decision's partners."""
    by_key = {a.key: a for a in ARMS}
    present = set(names)
    out: dict[str, list[str]] = {}
    for name in names:
        if name == START:
            continue
        arm, seed = name.rsplit("-s", 1)
        if by_key[arm].panel != arm:
            continue
        s = int(seed)
        # seed 0 ranks every policy of its own family: the plain fine-tunes, or the anchored ones (any anchor)
        family = [n for n in names if n == START or (is_anchored(n) == is_anchored(arm)
                                                     and int(n.rsplit("-s", 1)[1]) in SEEDS)]  # fmt: skip
        want = family if s == SEEDS[0] else []
        judged = [a.key for a in ARMS if panel_source(a.key) == arm]
        partner = null_partner(s)
        for key in judged:
            want += [f"{key}-s{s}", *([f"{key}-s{partner}"] if partner is not None else [])]
            if (base := compared_with(key)) is not None:
                want.append(f"{base}-s{s}")
        out[name] = [p for p in dict.fromkeys(want) if p in present]
    return out


def read_log(robot: str, budget: int) -> dict[str, Any] | None:
    path = LOGS / f"{robot}-{budget}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def start_actor(robot: str) -> Any:
    """The shipped sim policy of ``robot`` as an actor in eval mode."""
    import torch

    import robots
    from pipeline.policies import shipped_path
    from pipeline.sac import Actor

    policy = torch.load(shipped_path(robot), map_location="cpu", weights_only=True)
    record, sac = robots.get(robot), policy["sac"]
    actor = Actor(record.layout.size, record.action_dim, sac["hidden"], sac["depth"], sac["log_std_min"],
                  sac["log_std_max"])  # fmt: skip
    actor.load_state_dict(policy["actor"])
    return actor.eval()


def _path(robot: str, budget: int, name: str) -> Path:
    arm, seed = name.rsplit("-s", 1)
    return run_path(robot, budget, arm, seed)


def _final_eval(run_dir: Path) -> float:
    return float(json.loads((run_dir / "summary.json").read_text())["eval_return_mean"])


def evaluate_block(robot: str, budget: int, workers: int = 1, extra: Sequence[str] = ()) -> Path:
    """Runs the block's panels and writes its log (only what the log lacks); returns its path."""
    import scenarios
    from pipeline.executor import make_executor
    from pipeline.runs import load_run
    from studies.robustness_eval import episodes_json, last_scalars, write_log
    from validation.panels import PanelSpec, real_panel, robot_context_fn, synthetic_panel
    from validation.source_panel import source_panel

    t0 = time.perf_counter()
    scenario_list = tuple(scenarios.get(n) for n in ROBOTS[robot])
    path = LOGS / f"{robot}-{budget}.json"
    old = read_log(robot, budget)
    trained = [n for n in run_names(budget, extra) if (_path(robot, budget, n) / "summary.json").is_file()]
    names = [*trained, START]
    makers = panel_policies(names)
    have_gt = set(old["ground_truth"]) if old else set()
    have_synth = {m: set(p) for m, p in old["gate_synthetic"].items()} if old else {}
    new = [n for n in names if n not in have_gt]
    synth_todo = {m: [p for p in ps if p not in have_synth.get(m, set())] for m, ps in makers.items()}
    synth_todo = {m: ps for m, ps in synth_todo.items() if ps}
    load = set(new) | set(synth_todo) | {p for ps in synth_todo.values() for p in ps}
    runs = {n: load_run(_path(robot, budget, n)) for n in sorted(load - {START})}
    for name, run in runs.items():
        if run.step < budget:
            raise SystemExit(f"{robot}:{budget}: {name} is at step {run.step} < {budget}; train it first")
        logged = old["diagnostics"].get(name, {}).get("eval_return_mean") if old else None
        if logged is not None and _final_eval(run.path) != logged:
            raise SystemExit(f"{name}: its final evaluation is not the log's; training did not reproduce it")
    settings = dict(next(iter(runs.values())).config.robot_settings) if runs else {}
    settings.pop("max_episode_steps", None)
    gt_spec = PanelSpec(robot, scenario_list, GT_EPISODES, HORIZON, GT_SEED, 32, settings, GAP)
    gate_spec = PanelSpec(robot, scenario_list, GATE_EPISODES, HORIZON, 0, 32, settings, GAP)
    if old is not None and (old["ground_truth_spec"] != gt_spec.to_json() or old["gate_spec"] != gate_spec.to_json()):
        raise SystemExit(f"{path}: its panels differ from the study's; move it aside to evaluate the block afresh")
    executor = make_executor("local", workers) if workers > 1 else None
    actors = {n: r.actor for n, r in runs.items()} | {START: start_actor(robot)}
    gt, _ = real_panel(gt_spec, {n: actors[n] for n in new}, executor)
    t1 = time.perf_counter()
    gate_real, starts = real_panel(gate_spec, {n: actors[n] for n in new or [START]}, executor)
    synthetic: dict[str, Any] = {m: dict(v) for m, v in old["gate_synthetic"].items()} if old else {}
    for maker, policies in sorted(synth_todo.items()):
        run = runs[maker]
        chosen = {p: actors[p] for p in policies}
        if run.model is not None:
            ctx = robot_context_fn(robot) if run.model.ctx_dim else None
            panel = synthetic_panel(gate_spec, starts, chosen, run.model, run.config.algo.drop_range_factor, ctx)
        else:
            assert run.source_env is not None, maker
            panel = source_panel(gate_spec, starts, chosen, run.source_env[1])
        synthetic.setdefault(maker, {}).update({p: {c: episodes_json(e) for c, e in per.items()}
                                                for p, per in panel.items()})  # fmt: skip
        print(f"  synthetic panel of {maker}: {len(chosen)} policies", flush=True)
    t2 = time.perf_counter()
    diagnostics: dict[str, Any] = dict(old["diagnostics"]) if old else {}
    for name, run in runs.items():
        diagnostics[name] = {"eval_return_mean": _final_eval(run.path),
                             **last_scalars(run.path, DIAGNOSTICS)}  # fmt: skip
    log = {
        "log_version": LOG_VERSION, "robot": robot, "budget": budget, "gap": GAP, "scenarios": list(ROBOTS[robot]),
        "arms": {a.key: {"overrides": list(a.overrides), "description": a.description, "panel": a.panel}
                 for a in arms_of(budget, extra) if any(n.rsplit("-s", 1)[0] == a.key for n in trained)},
        "settings": {"fine_tune": list(FINE_TUNE), "exposure": EXPOSURE, "preset": "quick"},
        "seeds": sorted({s for a in ARMS for s in seeds_of(a.key)}), "horizon": HORIZON,
        "ground_truth_spec": gt_spec.to_json(), "gate_spec": gate_spec.to_json(),
        "conditions": [{"name": c.name, "metric": c.metric, "lower_is_better": c.lower_is_better}
                       for c in gate_spec.conditions()],
        "ground_truth": {**(old["ground_truth"] if old else {}),
                         **{p: {c: episodes_json(e) for c, e in per.items()} for p, per in gt.items()}},
        "gate_real": {**(old["gate_real"] if old else {}),
                      **{p: {c: episodes_json(e) for c, e in per.items()} for p, per in gate_real.items() if p in new}},
        "gate_synthetic": synthetic,
        "ledgers": {**(old["ledgers"] if old else {}), **{n: r.ledger for n, r in runs.items()}},
        "diagnostics": diagnostics,
        "timing_s": {**(old["timing_s"] if old else {}), f"eval_{len(new)}_runs": round(t2 - t0, 1),
                     f"ground_truth_{len(new)}_runs": round(t1 - t0, 1)},
    }  # fmt: skip
    write_log(path, log)
    print(f"{robot}:{budget}: wrote {path}: {len(new)} runs' real panels, {len(synth_todo)} synthetic panels "
          f"(ground truth {t1 - t0:.0f} s, the rest {t2 - t1:.0f} s)", flush=True)  # fmt: skip
    return path


DIAGNOSTICS = (
    "diag/reward_r2", "diag/model_error_pct_k1", "diag/model_error_pct_k10", "model/holdout_mse_elites",
    "sim_residual/holdout_mse_elites", "sim_sysid/error_before", "sim_sysid/error_after",
)  # fmt: skip
"""TensorBoard scalars kept in the log (their last value)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("plan", "train", "eval", "block", "report"))
    parser.add_argument("block", nargs="?", help="ROBOT:BUDGET (train, eval, block)")
    parser.add_argument("--workers", type=int, default=2, help="processes (one torch thread each)")
    parser.add_argument("--add", nargs="*", default=[], help="arms added to the block (the best source at 20k)")
    parser.add_argument("--only", nargs="*", default=[], help="train: only these arms")
    parser.add_argument("--check", action="store_true", help="report: fail when the page differs from the logs")
    args = parser.parse_args(argv)
    if args.command == "plan":
        for budget in BUDGETS:
            for robot in ROBOTS:
                log = read_log(robot, budget)
                have = f"log holds {len(log['ground_truth'])} runs" if log else "no log"
                runs = sum(len(seeds_of(a.key)) for a in arms_of(budget))
                print(f"{robot}:{budget}: {len(arms_of(budget))} arms, {runs} runs; {have}")
        return 0
    if args.command == "report":
        from studies.targeted_report import report

        return report(check=args.check)
    robot, budget = parse_block(args.block or "")
    if args.command in ("train", "block"):
        train_block(robot, budget, args.workers, args.add, args.only)
    if args.command in ("eval", "block"):
        evaluate_block(robot, budget, args.workers, args.add)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
