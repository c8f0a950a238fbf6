"""``synthgate <command> [key=value ...]``: thin dispatch to the parts.

Commands take Hydra overrides; ``synthgate <command> --help`` lists its keys with their descriptions.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

import robots
import scenarios
from pipeline.checkpoint import CheckpointError
from pipeline.config import ALGORITHMS, ConfigError, TrainConfig
from pipeline.faults import RunStopped
from synthgate import preflight

ConfigStore.instance().store(name="train_schema", node=TrainConfig)
for _name, _spec in ALGORITHMS.items():  # the Hydra group ``algo``: one preset per registered algorithm
    ConfigStore.instance().store(group="algo", name=_name, node=_spec.preset(_name))

USAGE = """usage: synthgate <command> [key=value ...]

commands:
  run      the main job end to end: train baseline and candidate, panels, gate, reports, bundle if promoted:
           synthgate run [robot=<name> scenario=[a,b] seeds=N steps=N preset=quick|full out=<dir>] (--help)
  train    train a policy: synthgate train robot=<name> algo=sac steps=<n> seed=<s> run_dir=<path>
           (an existing run_dir is resumed from its last good checkpoint; --check: validate only;
           preset=quick: synthgate run's small networks and UTD 5, before your own overrides)
  play     watch a policy: its episodes on the plant, under a scenario if given, optionally as an mp4:
           synthgate play <run_dir> [--scenario NAME] [--episodes N] [--video out.mp4]
  resume   go on with a run from its last good checkpoint, with the run's own config:
           synthgate resume <run_dir> [steps=N threads=N device=... progress=... checkpoint_every_s=S]
  robots     list the registered robots with their tags, layouts and failure predicates
  scenarios  list the scenario library (named rare failure modes)
  ledger   print a run's ledger: synthgate ledger <run_dir>
  sweep    a grid of train jobs on an executor (local process pool or Ray):
           synthgate sweep sweep_dir=<dir> [executor=local|ray workers=N ray.address=...] algo=sac,ftfl seed=0,1,2 ...
  aggregate  IQM with stratified-bootstrap CIs and curves over a sweep's runs:
           synthgate aggregate <sweep_dir> [--normalize max|none] [--reps 2000]
  stress   look for a policy's failures in the world model, confirm them on the plant, estimate the
           failure probability: synthgate stress <run_dir> scenario=<name> [key=value ...]
  export   write a run's transitions as a LeRobot v3.0 dataset:
           synthgate export <run_dir> --what real|synthetic|panels --out <dir> [--episodes N] [--video]
  deploy   export a promoted run as a bundle, verify it, run it on a robot (docs/deploy.md):
           synthgate deploy export <run_dir> --out <bundle> [--override "<reason>"]
           synthgate deploy verify <bundle>
           synthgate deploy run <bundle> --backend mujoco|lerobot [--episodes N] [--rate HZ] ...
  validate gate a candidate run against a baseline on matched real/synthetic/mixed panels:
           synthgate validate <candidate_run> --baseline <run> [--scenarios a,b] [--episodes N] (--help: all options)
  report   re-check a run's gate_report.json and rewrite its report.html: synthgate report <run_dir>
  arms     train real-only, synthetic-only and mixed arms on one real budget and tabulate them on the three panels:
           synthgate arms robot=<name> scenarios=[a,b] steps=<n> seeds=[0,1,2] out=<dir> (--help: all keys)
"""


def _fail(command: str, message: str) -> NoReturn:
    print(f"synthgate {command}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def _train(cfg: DictConfig) -> None:
    config = OmegaConf.to_object(cfg)
    assert isinstance(config, TrainConfig)
    _execute(config)


def _console_log() -> None:
    """INFO and above of every logger on stdout, in the line format of ``train.log`` (what Hydra's
    job logging did when ``synthgate train`` went through ``@hydra.main``)."""
    from pipeline.runfiles import LOG_FORMAT

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stdout, force=True)


def _execute(config: TrainConfig, command: str = "train") -> None:
    """Trains (or resumes) the run ``config`` describes and prints its summary."""
    from pipeline.train import Interrupted, train  # heavy imports only when training

    try:
        chosen = scenarios.resolve(config.scenarios, config.scenario)
    except scenarios.ScenarioError as err:
        _fail("train", f"scenarios: {err}")
    for scenario in chosen:
        if scenario.robot != config.robot:
            _fail("train", f"scenarios: {scenario.name} is a scenario of {scenario.robot}, not of robot={config.robot}")
    exposures = {scenario.name: scenario.perturbations for scenario in chosen}
    from scenarios.generator import for_config

    try:
        targeter = for_config(config, chosen)
    except scenarios.ScenarioError as err:
        _fail("train", f"targeted: {err}")
    try:
        if config.stacked_seeds:
            from pipeline.stacked_train import train_stacked

            summaries = train_stacked(config, exposures)
        else:
            summaries = [train(config, exposures, targeter)]
    except ConfigError as err:
        _fail("train", str(err))
    except (OSError, RunStopped, CheckpointError) as err:  # a refused write, a stopped run, no usable checkpoint
        preflight.fail_run(err, config.run_dir)
    except Interrupted as stop:
        print(f"synthgate {command}: stopped: {stop}", file=sys.stderr)
        raise SystemExit(128 + stop.signum) from None
    for summary in summaries:
        print(
            f"done: {summary['robot']} {summary['algo']} seed {summary['seed']}: {summary['steps']} env steps, "
            f"{summary['updates']} updates, eval return {summary['eval_return_mean']:.1f}\n"
            f"run directory: {summary['run_dir']} (TensorBoard: tensorboard --logdir {summary['run_dir']}/tb)"
        )


def _resume(args: Sequence[str]) -> int:
    """``synthgate resume <run_dir> [key=value ...]``: the run's own ``config.yaml``, with the few
    changes a resume allows (``pipeline.config.RESUMABLE_CHANGES``, ``steps=`` to train on), goes
    on from the run's last good checkpoint, without the user repeating the run's overrides."""
    from omegaconf.errors import OmegaConfBaseException

    from pipeline.config import RESUMABLE_CHANGES, validate

    if not args or args[0].startswith("-") or "=" in args[0]:
        _fail("resume", "give the run directory first: synthgate resume <run_dir> [steps=N ...]")
    run_dir, overrides = Path(args[0]), list(args[1:])
    saved = run_dir / "config.yaml"
    if not saved.is_file():
        _fail("resume", f"{run_dir}: no config.yaml there; not a run directory that synthgate train made")
    if not any((run_dir / "checkpoints").glob("ckpt-*.pt")):
        _fail("resume", f"{run_dir}: no checkpoint to resume from; start it again with synthgate train")
    for item in overrides:
        key = item.partition("=")[0]
        if "=" not in item or key not in RESUMABLE_CHANGES - {"run_dir"}:
            allowed = ", ".join(sorted(RESUMABLE_CHANGES - {"run_dir"}))
            _fail("resume", f"{item!r}: a resume may change only {allowed} (key=value)")
    try:
        cfg = OmegaConf.merge(
            OmegaConf.structured(TrainConfig), OmegaConf.load(saved), OmegaConf.from_dotlist(overrides)
        )
        config = OmegaConf.to_object(cfg)
    except OmegaConfBaseException as err:
        _fail("resume", f"{saved}: {str(err).splitlines()[0]}")
    assert isinstance(config, TrainConfig)
    config.run_dir = str(run_dir)
    try:
        validate(config)
    except ConfigError as err:
        _fail("resume", str(err))
    _console_log()
    _execute(config, "resume")
    return 0


def _robots(args: Sequence[str]) -> int:
    tag = args[0] if args else None
    try:
        names = robots.names(tag)
    except robots.UnknownNameError as err:
        _fail("robots", str(err))
    for name in names:
        r = robots.get(name)
        print(f"{name:24s} obs {r.layout.size:4d}  act {r.action_dim:3d}  tags {','.join(sorted(r.tags)):26s}"
              f"  predicates {','.join(sorted(r.predicates)) or '-'}")  # fmt: skip
    return 0


def _scenarios() -> int:
    """Lists the library and the user's scenario directories (``$SYNTHGATE_SCENARIO_PATH``; their
    files with their paths); a file that does not load is one error line (its file and field) on
    stderr, the others are still listed, and the exit status is 2."""
    bad = 0
    try:
        found = scenarios.files()
    except scenarios.ScenarioError as err:
        _fail("scenarios", str(err))
    for name, path in found.items():
        try:
            s = scenarios.load(path)
        except scenarios.ScenarioError as err:
            print(f"synthgate scenarios: error: {' '.join(str(err).split())}", file=sys.stderr)  # YAML's are multi-line
            bad += 1
            continue
        families = ",".join(p.family for p in s.perturbations)
        where = "" if path.parent == scenarios.library.LIBRARY else f"  ({path})"
        print(f"{name:20s} {s.robot:24s} {families:32s} predicate {s.predicate:12s} metric {s.metric}{where}")
    return 2 if bad else 0


def _ledger(args: Sequence[str]) -> int:
    from pathlib import Path

    from pipeline.ledger import format_table
    from pipeline.runfiles import read_jsonl

    if len(args) != 1:
        _fail("ledger", "usage: synthgate ledger <run_dir>")
    path = Path(args[0]) / "ledger.jsonl"
    if not path.is_file():
        _fail("ledger", f"{path} does not exist: is {args[0]} a synthgate run directory?")
    events = read_jsonl(path)  # a line cut by a crash is skipped with a warning
    books = [e for e in events if e["kind"] in ("window", "final")]
    if not books:
        _fail("ledger", f"{path} holds no ledger summary yet (the run has not reached its first log window)")
    last = books[-1]
    print(f"ledger of {args[0]} at env step {last['step']} (configured real ratio {last['configured_real_ratio']})")
    print(format_table(last))
    return 0


def _export(args: Sequence[str]) -> int:
    import argparse
    from pathlib import Path

    import numpy as np
    import yaml

    from pipeline import checkpoint
    from pipeline.buffer import ReplayBuffer
    from pipeline.interchange import export_buffer
    from robots.lerobot_format import DatasetError

    parser = argparse.ArgumentParser(prog="synthgate export", description="Write a run's data as a LeRobot dataset.")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--what", choices=("real", "synthetic", "panels"), required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--episodes", type=int, default=None, help="export at most this many episodes")
    parser.add_argument("--video", action="store_true", help="render real episodes (plant replayed) as mp4; "
                        "--what real only")  # fmt: skip
    opts = parser.parse_args(list(args))
    if opts.video and opts.what != "real":  # issue 21: it used to write no video and say nothing
        _fail("export", f"--video: --what {opts.what} writes no video; only --what real is rendered (the run's real "
                        "episodes, replayed on the plant from their seeds): drop --video")  # fmt: skip
    if opts.what == "panels":
        return _export_panels(opts.run_dir, opts.out, opts.episodes)
    config_path = opts.run_dir / "config.yaml"
    if not config_path.is_file():
        _fail("export", f"{config_path} does not exist: is {opts.run_dir} a synthgate run directory?")
    cfg = yaml.safe_load(config_path.read_text())
    try:
        found = checkpoint.load_latest(opts.run_dir / "checkpoints")
    except CheckpointError as err:
        _fail("export", str(err))
    if found is None:
        _fail("export", f"{opts.run_dir} has no checkpoint yet")
        return 2
    payload = found[1]
    key = "buffer" if opts.what == "real" else "synthetic"
    state = payload.get(key)
    if state is None:
        _fail("export", f"{opts.run_dir} ({cfg['algo']['name']}) has no synthetic buffer: it is not model-based")
    buffer = ReplayBuffer(state["obs"].shape[1], state["act"].shape[1], state["capacity"])
    buffer.load_state_dict(state)
    robot = cfg["robot"]
    settings = cfg.get("robot_settings", {})

    def render(seed: np.ndarray, actions: np.ndarray) -> np.ndarray:
        env = robots.make(robot, **settings)
        env.reset(seed=int(seed))
        frames = [np.asarray(env.render())]
        for act in actions[:-1]:
            env.step(act)
            frames.append(np.asarray(env.render()))
        env.close()
        return np.stack(frames)

    try:
        summary = export_buffer(buffer, robot, opts.out, opts.what, max_episodes=opts.episodes,
                                render=render if opts.video else None)  # fmt: skip
    except DatasetError as err:
        _fail("export", str(err))
        return 2
    print(f"wrote {summary['episodes']} episodes, {summary['frames']} frames of {opts.what} data to {summary['path']}")
    return 0


def _export_panels(run_dir: Path, out: Path, max_episodes: int | None) -> int:
    """The run's real-panel episodes (as its gate report's panel specified them) as a LeRobot dataset.

    The panel is deterministic under its seed, so its episodes are recorded by running the run's
    policy on the same plants, seeds and chunks again; each exported episode's return is the one
    the gate scored. Origins name the condition (``<robot>/plant`` or ``<robot>/plant:<scenario>``),
    seeds are the panel's episode seeds.
    """
    import numpy as np

    from pipeline.buffer import ReplayBuffer, Source
    from pipeline.interchange import export_buffer
    from pipeline.runs import RunError, load_run
    from robots.lerobot_format import DatasetError
    from validation.panels import PanelSpec, record_real_panel
    from validation.report import ReportError, find_report, read_report

    try:
        report = read_report(find_report(run_dir))
        run = load_run(run_dir)
    except (ReportError, RunError) as err:
        _fail("export", f"--what panels needs a validated run: {err}")
    ps = report.get("panel_spec")
    if not isinstance(ps, dict):
        _fail("export", f"{run_dir}: the gate report has no panel_spec")
    try:
        chosen = [scenarios.get(name) for name in ps["scenarios"]]
    except scenarios.ScenarioError as err:
        _fail("export", f"the gate report's scenarios: {err}")
    spec = PanelSpec(ps["robot"], tuple(chosen), ps["episodes"], ps["max_steps"], ps["seed"], ps["num_envs"],
                     dict(ps["robot_settings"]))  # fmt: skip
    episodes = record_real_panel(spec, run.actor)
    record = robots.get(spec.robot)
    total = sum(len(e["rew"]) for e in episodes)
    buffer = ReplayBuffer(record.layout.size, record.action_dim, max(total, 1))
    for e in episodes:
        origin = f"{spec.robot}/plant" + ("" if e["condition"] == "nominal" else f":{e['condition']}")
        buffer.add(e["obs"], e["act"], e["rew"], e["next_obs"], e["terminated"], source=Source.REAL, origin=origin,
                   seed=np.full(len(e["rew"]), e["seed"], dtype=np.int64))  # fmt: skip
    try:
        summary = export_buffer(buffer, spec.robot, out, "real", max_episodes=max_episodes,
                                task=f"{spec.robot}: real panel of {run.name}")  # fmt: skip
    except DatasetError as err:
        _fail("export", str(err))
    print(
        f"wrote {summary['episodes']} real-panel episodes ({summary['frames']} frames) of {run.name} to "
        f"{summary['path']} (panel seed {spec.seed}; conditions {', '.join(c.name for c in spec.conditions())})"
    )
    return 0


def _aggregate(args: Sequence[str]) -> int:
    import argparse
    import json
    from pathlib import Path

    from validation.aggregate import AggregateError, aggregate, format_table, load_runs, plot

    parser = argparse.ArgumentParser(prog="synthgate aggregate", description="Aggregate a sweep's runs (rliable).")
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--normalize", choices=("max", "none"), default="max")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap resamples")
    opts = parser.parse_args(list(args))
    if opts.reps < 100:
        _fail("aggregate", f"--reps {opts.reps}: use at least 100 bootstrap resamples")
    try:
        runs = load_runs(opts.sweep_dir)
        result = aggregate(runs, normalize=opts.normalize, reps=opts.reps)
    except AggregateError as err:
        _fail("aggregate", str(err))
    result["runs"] = [r.run_dir for r in runs]
    table = format_table(result)
    (opts.sweep_dir / "aggregate.json").write_text(json.dumps(result, indent=2))
    (opts.sweep_dir / "aggregate.md").write_text(table + "\n")
    plot(runs, result, opts.sweep_dir / "aggregate.png")
    print(table)
    print(f"wrote {opts.sweep_dir}/aggregate.json, aggregate.md, aggregate.png ({len(runs)} runs)")
    return 0


def _train_preset(args: list[str]) -> list[str]:
    """``preset=quick`` on ``synthgate train``: ``synthgate run``'s small settings
    (:data:`synthgate.run_job.QUICK`) go before the other arguments, so the user's own win;
    ``preset=full`` adds nothing (the library's defaults)."""
    from synthgate.run_job import QUICK

    presets = [a.partition("=")[2] for a in args if a.startswith("preset=")]
    if not presets:
        return args
    if len(presets) > 1 or presets[0] not in ("quick", "full"):
        _fail("train", f"preset={presets[-1]!r}: give it once, one of quick, full")
    others = [a for a in args if not a.startswith("preset=")]
    return [*QUICK, *others] if presets[0] == "quick" else others


def train_help() -> str:
    """``synthgate train --help``: usage, the algorithm presets and every key with its description."""
    from pipeline.config import ALGORITHMS
    from synthgate.keyhelp import render

    presets = "\n".join(f"  algo={name:17s} {spec.description}" for name, spec in ALGORITHMS.items())
    return (
        f"synthgate {command_usage('train')}\n\n"
        f"algorithm presets (algo=...; each sets the algo.* keys it names):\n{presets}\n\n"
        "keys (key=default, then what it is; algo.* defaults are the chosen preset's, sac's shown; "
        "docs: pipeline/config.py):\n"
        f"{render(TrainConfig)}\n\n"
        "Hydra's own flags still work: --cfg job prints the composed config."
    )


OWN_HELP = ("train", "run", "validate", "arms", "export", "aggregate", "stress", "play")
"""Commands whose parsers answer ``--help`` themselves; every other one prints its entry of :data:`USAGE`."""


def command_usage(command: str) -> str | None:
    """``command``'s entry in :data:`USAGE` (its line and the indented lines under it), None if absent."""
    lines = USAGE.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(f"  {command} ")), None)
    if start is None:
        return None
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("     ")), len(lines))
    return "\n".join(line.strip() for line in lines[start:end])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``synthgate`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = args[0], args[1:]
    if command not in OWN_HELP and any(a in ("-h", "--help") for a in rest):
        usage = command_usage(command)
        if usage is not None:
            print(f"synthgate {usage}")
            return 0
    if command == "train" and any(a in ("-h", "--help") for a in rest):
        print(train_help())
        return 0
    if command == "train":
        rest = _train_preset(rest)
        if any(a.startswith("-") and a != "--check" for a in rest):  # Hydra's own flags (--cfg job, -m ...)
            sys.argv = ["synthgate train", *rest]
            _train()
            return 0
        try:  # the config is composed and checked once, before work starts; --check stops here
            config = preflight.train_command(rest)
        except preflight.UsageError as err:
            _fail("train", str(err))
        if config is not None:
            _console_log()
            _execute(config)
        return 0
    if command == "resume":
        return _resume(rest)
    if command == "play":
        from synthgate.play import main as play_main

        return play_main(rest)
    if command == "robots":
        return _robots(rest)
    if command == "ledger":
        return _ledger(rest)
    if command == "scenarios":
        return _scenarios()
    if command == "export":
        return _export(rest)
    if command == "aggregate":
        return _aggregate(rest)
    if command == "sweep":
        from synthgate.sweep import main as sweep_main

        return sweep_main(rest)
    if command == "deploy":
        from synthgate.deploy import main as deploy_main

        return deploy_main(rest)
    if command == "run":
        from synthgate.run_job import main as run_main

        return run_main(rest)
    if command in ("validate", "report", "arms"):
        from synthgate import validation_cli

        return {"validate": validation_cli.validate_main, "report": validation_cli.report_main,
                "arms": validation_cli.arms_main}[command](rest)  # fmt: skip
    if command == "stress":
        from synthgate.stress import main as stress_main

        return stress_main(rest)
    valid = (
        "aggregate, arms, deploy, export, ledger, play, report, resume, robots, run, scenarios, stress, sweep, "
        "train, validate"
    )
    _fail(command, f"unknown command {command!r}; valid commands: {valid}")
    return 2
