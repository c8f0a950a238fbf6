"""``synthgate run``: the main job, end to end, on an embedded default.

    synthgate run                                   # the embedded default (make run)
    synthgate run candidate=sim_sysid gap=hard      # another source, a harder real plant
    synthgate run robot=walker-walk scenarios=[push_recovery,slippery_floor] candidate=mixed init_from= preset=full
    synthgate run seeds=3 executor=ray workers=2          # runs and real panels as Ray tasks

Phases, each with a banner:

1. **train** — per seed, on the real plant (the robot with the ``gap`` profile), starting from
   ``init_from`` (the shipped sim-trained policy; fine-tuned at issue 32's setting, :data:`FINE_TUNE`
   learning rates and the actor anchored to the starting policy, :data:`ANCHOR`): the baseline
   (``real_only``: SAC fine-tuning on real data) and the candidate (by default ``sim_residual``:
   the same plus targeted rollouts of the sim with a correction learned from the real
   transitions; ``candidate=`` names another arm of ``validation.arms``) on the same real budget
   and the same real exposure;
2. **validate** — the matched real / synthetic / mixed panels (the synthetic one through the
   candidate's own source), the sim panel beside them, the gate, ``gate_report.json`` and
   ``report.html`` in the first candidate's ``validation/`` (``validation.validate``);
3. **deploy** — only on PROMOTE: the first candidate exported as a bundle and run for a few
   episodes on the MuJoCo stand-in (``synthgate deploy``); on REJECT the export is refused and the
   failed rules are named;
4. **summary** — the arm × panel table per condition, the decision and its reasons, and the paths.

The embedded default is small on purpose so it finishes in minutes on 2 CPU cores: Hopper-v5 on
its ``default`` gap, the shipped starting policy, two scenarios that target ``tipped``, 3,000 real
env steps per run, three seeds per arm so the gate can promote, UTD 1 and a small correction
network (``preset=quick``; its overrides are :data:`QUICK`). ``preset=full`` drops them (the
library's defaults) and trains 100,000 steps unless ``steps`` says otherwise. Any other
``key=value`` is a ``synthgate train`` override for both arms; ``gate.<key>=<value>`` sets a gate
threshold. Finished runs are reused, interrupted ones resume.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

QUICK = [
    "learning_starts=500", "eval_every=1000", "eval_episodes=3", "checkpoint_every=1000",
    "algo.utd=1", "algo.retrain_every=500", "algo.rollouts_per_step=20", "algo.model.hidden=64",
    "algo.model.depth=2", "algo.model.weight_decay=[2.5e-5,5e-5,1e-4]", "algo.model.max_epochs=20",
    "algo.model.members=5", "algo.model.elites=3", "sysid_evals=60",
]  # fmt: skip
"""Training overrides of ``preset=quick`` (the embedded default): UTD 1, small synthetic sources
(the policy's networks are the starting policy's)."""
FINE_TUNE = ["sac.lr_actor=1e-5", "sac.lr_critic=1e-4"]
"""Learning rates for fine-tuning a starting policy (the library's are 3e-4 for both, which moved
the shipped Hopper-v5 policy off its return within 1,000 real steps: docs/targeted.md)."""
ANCHOR = 100.0
"""``sac.anchor`` of every run that starts from a policy: issue 32's main setting (docs/targeted.md:
no collapse in any anchored run; against the plain fine-tune it cut Walker2d-v5's failures under
both scenarios)."""


@dataclass(frozen=True)
class RunJobConfig:
    """``synthgate run``'s own keys; every other ``key=value`` goes to ``synthgate train``."""

    robot: str = "Hopper-v5"
    """Registered robot."""
    gap: str = "default"
    """The real plant's gap profile (``synthgate gaps``): training, the real panel and deploy's stand-in."""
    init_from: str = "shipped"
    """The starting policy of every run (``synthgate train``'s ``init_from``); empty: from scratch."""
    candidate: str = "sim_residual"
    """The arm the gate judges against real_only (validation.arms: mixed, sim, sim_sysid, sim_residual...)."""
    scenarios: list[str] = field(default_factory=lambda: ["hopper_heavy_torso", "hopper_weak_thigh"])
    """Scenarios: real exposure, targeted rollouts and the panels. As in ``synthgate train``,
    ``scenario=<name>`` names one (it becomes ``scenarios=[<name>]``)."""
    steps: int = 0
    """Real env steps per run; 0: 3,000 under preset=quick, 100,000 under preset=full."""
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    """Training seeds of each arm (a count N is shorthand for 0..N-1: ``seeds=3``)."""
    preset: str = "quick"
    """quick: small networks for a run of minutes; full: the library's MBPO-sized defaults."""
    out: str = "runs/main"
    """Output directory (runs/, the bundle, deploy logs)."""
    exposure: float = 0.1
    """Probability that a real training episode runs under one of the scenarios (both arms alike)."""
    episodes: int = 20
    """Panel episodes per condition."""
    max_steps: int = 0
    """Panel episode length; 0: the runs' episode length."""
    threads: int = 1
    """torch threads per run."""
    deploy_episodes: int = 3
    """Episodes on the MuJoCo stand-in when the candidate is promoted."""
    deploy_max_steps: int = 300
    """Steps per stand-in episode at most (the runtime keeps the plant's real-time rate)."""
    executor: str = "local"
    """Where the training runs and the real panel's chunks go: local (this process, or a pool of
    ``workers`` processes) or ray (a local Ray started on demand, or ``ray.address``)."""
    workers: int = 1
    """local: processes in the pool (1: everything in this process); ray: CPUs of a local Ray."""
    ray_address: str = ""
    """A Ray cluster to join (``ray.address`` is accepted too); empty: a local Ray."""


def banner(index: int, total: int, title: str) -> None:
    print(f"\n=== [{index}/{total}] {title} " + "=" * max(0, 70 - len(title)), flush=True)


def _fail(message: str) -> int:
    print(f"synthgate run: error: {message}", file=sys.stderr)
    return 2


def parse(args: Sequence[str]) -> tuple[RunJobConfig, list[str], list[str]]:
    """Splits ``args`` into the job's config, train overrides and gate overrides.

    Raises:
        ValueError: a key that is neither the job's nor a ``synthgate train`` field, or a job key
            with a value of the wrong type or out of range (the message as ``synthgate train``'s:
            the field, the value, what is allowed).
    """
    from omegaconf import OmegaConf

    from pipeline.executor import EXECUTORS
    from synthgate import preflight

    own = {f.name for f in dataclasses.fields(RunJobConfig)}
    mine, passed, gate = [], [], []
    for arg in map(preflight.seed_list, args):
        key = arg.split("=", 1)[0]
        if key == "scenario":  # one scenario, as train's Hydra group ``scenario`` takes one
            value = arg.partition("=")[2]
            if value.startswith("["):
                raise ValueError(f"{arg}: scenario= takes one name, as in synthgate train; for several, "
                                 f"scenarios={value}")  # fmt: skip
            arg, key = f"scenarios=[{value}]", "scenarios"
        if key == "ray.address":
            arg, key = "ray_address" + arg[len("ray.address") :], "ray_address"
        if key.startswith("gate."):
            gate.append(arg[len("gate.") :])
        elif key in own:
            mine.append(arg)
        else:
            passed.append(arg)
    given = {key: value for key, _, value in (a.partition("=") for a in passed)}
    # as synthgate train names an unknown key, with the job's keys valid too (run_dir and seed are the job's to set)
    preflight.check_keys(given, own=sorted(own), reserved=("run_dir", "seed"))
    try:
        merged = OmegaConf.merge(OmegaConf.structured(RunJobConfig), OmegaConf.from_dotlist(mine))
        cfg = OmegaConf.to_object(merged)
    except Exception as err:  # noqa: BLE001 - OmegaConf raises several types for a bad key=value
        raise ValueError(preflight.explain(err, {k: v for k, _, v in (a.partition("=") for a in mine)})) from None
    assert isinstance(cfg, RunJobConfig)
    if cfg.preset not in ("quick", "full"):
        raise ValueError(f"preset={cfg.preset!r}; valid: quick, full")
    if cfg.executor not in EXECUTORS or cfg.workers < 1:
        raise ValueError(f"executor={cfg.executor!r}, workers={cfg.workers}: executor must be one of "
                         f"{', '.join(EXECUTORS)} and workers >= 1")  # fmt: skip
    if not cfg.seeds or len(set(cfg.seeds)) != len(cfg.seeds) or min(cfg.seeds) < 0:
        raise ValueError(f"seeds={cfg.seeds}: need seeds >= 1 distinct non-negative seeds (a count N for 0..N-1, "
                         "or a list [a,b])")  # fmt: skip
    if cfg.steps < 0 or cfg.episodes < 2 or cfg.deploy_episodes < 0:
        raise ValueError(f"steps={cfg.steps}, episodes={cfg.episodes}, "
                         f"deploy_episodes={cfg.deploy_episodes}: need steps >= 0, episodes >= 2, "
                         "deploy_episodes >= 0")  # fmt: skip
    if not cfg.scenarios:
        raise ValueError("scenarios=[...] is empty; name at least one (synthgate scenarios lists them)")
    if not cfg.steps:  # the preset's budget, in a new config: a config is never changed after parsing
        cfg = dataclasses.replace(cfg, steps=3000 if cfg.preset == "quick" else 100_000)
    from validation.arms import ARMS

    if cfg.candidate not in ARMS or cfg.candidate == "real_only":
        raise ValueError(f"candidate={cfg.candidate!r}: valid: {', '.join(a for a in ARMS if a != 'real_only')}")
    if cfg.candidate in ("generated", "both"):
        raise ValueError(f"candidate={cfg.candidate}: synthgate run imports no generated data; use synthgate arms")
    if any(a.split("=", 1)[0] in ("run_dir", "seed", "algo") for a in passed):
        raise ValueError("run_dir, seed and algo are set by the job per arm and seed; do not pass them")
    return cfg, passed, gate


def main(args: Sequence[str]) -> int:
    """``synthgate run``: exit 0 when the job ran (whatever the decision), 2 on invalid input."""

    from pipeline.config import DEFAULT_WORLD_MODEL, ConfigError
    from pipeline.executor import Executor, ExecutorError, make_executor
    from pipeline.runs import RunError, load_run
    from synthgate.validation_cli import compose_arms, gate_overrides, load_scenarios, print_decision
    from validation.arms import ArmsConfig, arms_table, markdown, run_dir, train_arms
    from validation.validate import PanelOptions, run_gate, write_all

    if args and args[0] in ("-h", "--help"):
        from synthgate.keyhelp import render

        print(__doc__)
        print(f"synthgate run's own keys:\n{render(RunJobConfig)}")
        print("\nevery other key=value is a synthgate train key for both arms (synthgate train --help lists them);")
        print("gate.<key>=<value> sets a gate threshold (docs/validation.md).")
        return 0
    try:
        cfg, passed, gate_items = parse(args)
    except ValueError as err:
        return _fail(str(err))
    start = time.perf_counter()
    gate = gate_overrides(gate_items, "run")
    arms_cfg = ArmsConfig(robot=cfg.robot, scenarios=list(cfg.scenarios), steps=cfg.steps, seeds=list(cfg.seeds),
                          out=cfg.out, exposure=cfg.exposure, episodes=cfg.episodes, max_steps=cfg.max_steps,
                          threads=cfg.threads)  # fmt: skip
    preset = QUICK if cfg.preset == "quick" else []
    arms = ("real_only", cfg.candidate)
    plant = [f"gap={cfg.gap}", f"init_from={cfg.init_from}"]
    if cfg.init_from:  # fine-tuning a starting policy: the study's setting (the user's keys still win)
        plant += [*FINE_TUNE, f"sac.anchor={ANCHOR}"]
    # every run's config passes synthgate train's checks (robot first, then its scenarios) before work starts
    configs = compose_arms(arms_cfg, arms, ["progress=true", *plant, *preset, *passed], "run")
    scenario_list = load_scenarios(cfg.scenarios, cfg.robot, "run")
    start_from = f"from {cfg.init_from}" if cfg.init_from else "from scratch"
    print(f"synthgate run: {cfg.robot} with gap {cfg.gap}, {start_from}, scenarios {', '.join(cfg.scenarios)}, "
          f"{cfg.steps} real env steps per run, {len(cfg.seeds)} seed(s), candidate {cfg.candidate}, "
          f"preset={cfg.preset}, into {cfg.out}")  # fmt: skip

    executor: Executor | None = None
    if cfg.executor == "ray" or cfg.workers > 1:
        try:
            executor = make_executor(cfg.executor, cfg.workers, cfg.ray_address or None)
        except ExecutorError as err:
            return _fail(str(err))

    what = f"{DEFAULT_WORLD_MODEL} + targeted" if cfg.candidate == "mixed" else "+ targeted synthetic rollouts"
    banner(1, 4, f"train: baseline (real_only) and candidate ({cfg.candidate}, {what}) x {len(cfg.seeds)} seed(s)")
    try:
        train_arms(configs, scenario_list, executor=executor)
    except (ConfigError, ExecutorError) as err:
        return _fail(str(err))

    banner(2, 4, f"validate: matched real / synthetic / mixed panels, {cfg.episodes} episodes per condition")
    try:
        candidates = [load_run(run_dir(arms_cfg, cfg.candidate, s)) for s in arms_cfg.seeds]
        baselines = [load_run(run_dir(arms_cfg, "real_only", s)) for s in arms_cfg.seeds]
        small = " (a small real budget and small synthetic sources: a demonstration)" if cfg.preset == "quick" else ""
        runs = f"{cfg.steps} real env steps per run on gap {cfg.gap}, {start_from}, {len(cfg.seeds)} seed(s)"
        note = f"synthgate run, preset={cfg.preset}: {runs}{small}"
        options = PanelOptions(cfg.episodes, cfg.max_steps, 0)
        report = run_gate(candidates, baselines, scenario_list, options=options, config=gate, note=note,
                          executor=executor, progress=lambda line: print(f"  {line}", flush=True))  # fmt: skip
    except (RunError, ValueError, ExecutorError) as err:
        return _fail(str(err))
    members = {"baseline (real_only)": [r.name for r in baselines],
               f"candidate ({cfg.candidate})": [r.name for r in candidates]}  # fmt: skip
    report["arms_table"] = arms_table(report, members, gate)
    validation_dir = candidates[0].path / "validation"
    report_path, page = write_all(report, validation_dir)

    banner(3, 4, "deploy: bundle export and a run on the MuJoCo stand-in")
    bundle = Path(cfg.out) / "bundle"
    deployed = False
    if report["decision"] == "PROMOTE":
        from synthgate.deploy import main as deploy_main

        if bundle.exists():
            import shutil

            shutil.rmtree(bundle)  # a bundle is rebuilt from the newest promoted candidate
        code = deploy_main(["export", str(candidates[0].path), "--out", str(bundle)])
        if code == 0 and cfg.deploy_episodes:
            code = deploy_main(["run", str(bundle), "--backend", "mujoco", "--episodes", str(cfg.deploy_episodes),
                                "--max-steps", str(cfg.deploy_max_steps), "--gap", f"profile={cfg.gap}",
                                "--log-dir", str(Path(cfg.out) / "deploy_logs")])  # fmt: skip
        deployed = code == 0
    else:
        print(f"not exported: the gate rejected the candidate ({len(report['failed_rules'])} failed rules, below).\n"
              f"To export anyway, with the reason recorded in the bundle: synthgate deploy export "
              f"{candidates[0].path} --out {bundle} --override \"<reason>\"")  # fmt: skip

    banner(4, 4, "summary")
    print(markdown(report["arms_table"]))
    print_decision(report)
    minutes = (time.perf_counter() - start) / 60
    print(f"\nreport:      {page}\ngate report: {report_path}")
    print(f"TensorBoard: tensorboard --logdir {cfg.out}/runs   (validation: {validation_dir / 'tb'})")
    print(f"bundle:      {bundle if deployed else '(none: ' + report['decision'] + ')'}")
    print(f"decision:    {report['decision']} in {minutes:.1f} min")
    return 0
