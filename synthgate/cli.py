"""``synthgate <command> [key=value ...]``: thin dispatch to the parts.

Commands take Hydra overrides; ``synthgate <command> --help`` lists its keys with their descriptions.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

import robots
import scenarios
from pipeline.checkpoint import CheckpointError
from pipeline.config import ALGORITHMS, ConfigError, TrainConfig
from pipeline.executor import Stopped
from pipeline.faults import RunStopped
from synthgate import preflight

ConfigStore.instance().store(name="train_schema", node=TrainConfig)
for _name, _spec in ALGORITHMS.items():  # the Hydra group ``algo``: one preset per registered algorithm
    ConfigStore.instance().store(group="algo", name=_name, node=_spec.preset(_name))


_fail = preflight.fail


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


class _UserFormat(logging.Formatter):
    """A log record as a line of a command's own output: indented, with ``warning:`` before a warning."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        return f"  {text}" if record.levelno < logging.WARNING else f"  {record.levelname.lower()}: {text}"


def user_log() -> None:
    """``synthgate.*``'s messages (a run's "new run ...", its warnings) on stdout in the style of the
    command's own lines, and never through the root logger: importing ``dm_control.suite`` installs a
    root handler that would print them as raw records (``INFO:synthgate.train:...``, issue 34).
    ``train`` and ``resume`` keep ``train.log``'s format instead (:func:`_console_log`)."""
    owner = logging.getLogger("synthgate")
    for handler in [h for h in owner.handlers if isinstance(h.formatter, _UserFormat)]:
        owner.removeHandler(handler)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_UserFormat())
    owner.addHandler(handler)
    owner.propagate = False


def _execute(config: TrainConfig, command: str = "train") -> None:
    """Trains (or resumes) the run ``config`` describes and prints its summary."""
    from pipeline.train import Interrupted  # heavy imports only when training

    try:
        chosen = scenarios.resolve(config.scenarios, config.scenario)
    except scenarios.ScenarioError as err:
        _fail("train", f"scenarios: {err}")
    for scenario in chosen:
        if scenario.robot != config.robot:
            _fail("train", f"scenarios: {scenario.name} is a scenario of {scenario.robot}, not of robot={config.robot}")
    from scenarios.training import train_with_scenarios

    try:
        summaries = train_with_scenarios(config, chosen)
    except scenarios.ScenarioError as err:
        _fail("train", f"targeted: {err}")
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


def _gaps(args: Sequence[str]) -> int:
    """Lists every robot's gap profiles (or one robot's) with what each changes; a file that does not
    load is one error line on stderr, the others are still listed, and the exit status is 2."""
    from robots import gaps

    if len(args) > 1:
        _fail("gaps", f"expected at most one robot, got {list(args)}")
    chosen = list(args) or robots.names()
    bad = 0
    for robot in chosen:
        try:
            robots.get(robot)
            found = gaps.names(robot)
        except (robots.UnknownNameError, gaps.GapError) as err:
            _fail("gaps", str(err))
        for name in found:
            try:
                profile = gaps.get(name, robot)
            except gaps.GapError as err:
                print(f"synthgate gaps: error: {' '.join(str(err).split())}", file=sys.stderr)
                bad += 1
                continue
            where = "" if profile.source.startswith(str(gaps.LIBRARY)) or name == gaps.NONE else f"  ({profile.source})"
            print(f"{robot:24s} {profile.tag:18s} {profile.description}{where}")
            for line in profile.changes():
                print(f"{'':43s} {line}")
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


@dataclass(frozen=True)
class Command:
    """One ``synthgate`` command: its usage lines and what runs it."""

    summary: str
    """What it does, with its usage (the first line is indented to the names; the rest under them)."""
    run: Callable[[list[str]], int]
    """Runs it on the arguments after its name; returns the exit status."""
    own_help: bool = False
    """It answers ``--help`` itself (argparse, or a key list); else ``--help`` prints its usage lines."""


def _lazy(module: str, function: str = "main") -> Callable[[list[str]], int]:
    """A command whose code is imported only when it runs (training and panels import torch and MuJoCo)."""

    def run(args: list[str]) -> int:
        import importlib

        return int(getattr(importlib.import_module(module), function)(args))

    return run


COMMANDS: dict[str, Command] = {
    "run": Command("""the main job end to end: train baseline and candidate, panels, gate, reports, bundle if promoted:
synthgate run [robot=<name> scenarios=[a,b] seeds=N steps=N preset=quick|full out=<dir>] (--help)""",
                   _lazy("synthgate.run_job"), own_help=True),
    "train": Command("""train a policy: synthgate train robot=<name> algo=sac steps=<n> seed=<s> run_dir=<path>
(an existing run_dir is resumed from its last good checkpoint; --check: validate only;
preset=quick: synthgate run's small networks and UTD 5, before your own overrides)""", lambda a: _train_command(a),
                     own_help=True),
    "play": Command("""watch a policy: its episodes on the plant, under a scenario if given, optionally as an mp4:
synthgate play <run_dir> [--scenario NAME] [--episodes N] [--video out.mp4]""", _lazy("synthgate.play"), own_help=True),
    "policy": Command("""write a sim-trained run (plant=sim) as a starting policy with its manifest (init_from=):
synthgate policy <run_dir> --out <dir> [--episodes 100]""", _lazy("synthgate.policy_cli"), own_help=True),
    "resume": Command("""go on with a run from its last good checkpoint, with the run's own config:
synthgate resume <run_dir> [steps=N threads=N device=... progress=... checkpoint_every_s=S]""", lambda a: _resume(a)),
    "robots": Command("list the registered robots with their tags, layouts and failure predicates",
                      lambda a: _robots(a)),
    "scenarios": Command("list the scenario library and your own scenario directories (named rare failure modes)",
                         lambda a: _scenarios()),
    "gaps": Command("""list the reality-gap profiles (how each robot's real plant differs from the sim) and what each
changes: synthgate gaps [robot]""", lambda a: _gaps(a)),
    "ledger": Command("print a run's ledger: synthgate ledger <run_dir>", lambda a: _ledger(a)),
    "sweep": Command("""a grid of train jobs on an executor (local process pool or Ray):
synthgate sweep sweep_dir=<dir> [executor=local|ray workers=N ray.address=...] algo=sac,ftfl seed=0,1,2 ...""",
                     _lazy("synthgate.sweep")),
    "aggregate": Command("""IQM with stratified-bootstrap CIs and curves over a sweep's runs:
synthgate aggregate <sweep_dir> [--normalize max|none] [--reps 2000]""", _lazy("synthgate.aggregate"), own_help=True),
    "stress": Command("""look for a policy's failures in the world model, confirm them on the plant, estimate the
failure probability: synthgate stress <run_dir> scenario=<name> [key=value ...]""", _lazy("synthgate.stress"),
                      own_help=True),
    "export": Command("""write a run's transitions as a LeRobot v3.0 dataset:
synthgate export <run_dir> --what real|synthetic|panels --out <dir> [--episodes N] [--video]
                 [--source model|generated:<generator>@<version>]  (--what synthetic: which pool)""",
                      _lazy("synthgate.export"), own_help=True),
    "deploy": Command("""export a promoted run as a bundle, verify it, run it on a robot (docs/deploy.md):
synthgate deploy export <run_dir> --out <bundle> [--override "<reason>"]
synthgate deploy verify <bundle>
synthgate deploy run <bundle> --backend mujoco|lerobot [--episodes N] [--rate HZ] ...""", _lazy("synthgate.deploy")),
    "validate": Command("""gate a candidate run against a baseline on matched real/synthetic/mixed panels:
synthgate validate <candidate_run> --baseline <run> [--scenarios a,b] [--episodes N] (--help: all options)""",
                        _lazy("synthgate.validation_cli", "validate_main"), own_help=True),
    "report": Command("re-check a run's gate_report.json and rewrite its report.html: synthgate report <run_dir>",
                      _lazy("synthgate.validation_cli", "report_main")),
    "arms": Command("""train real-only, synthetic-only and mixed arms on one real budget, tabulated on the three panels:
synthgate arms robot=<name> scenarios=[a,b] steps=<n> seeds=[0,1,2] out=<dir> (--help: all keys)""",
                    _lazy("synthgate.validation_cli", "arms_main"), own_help=True),
}  # fmt: skip
"""Every command, in the order ``synthgate --help`` lists them: the one place a command is named."""


def _entry(name: str, command: Command) -> str:
    first, *rest = command.summary.splitlines()
    pad = " " * max(len(name) + 3, 11)
    return "\n".join([f"  {name:{len(pad) - 3}s} {first}", *(f"{pad}{line}" for line in rest)])


USAGE = "usage: synthgate <command> [key=value ...]\n\ncommands:\n" + "\n".join(
    _entry(name, command) for name, command in COMMANDS.items()
)


def command_usage(command: str) -> str | None:
    """``command``'s usage lines (its name first), None for an unknown command."""
    if command not in COMMANDS:
        return None
    return "\n".join(line.strip() for line in _entry(command, COMMANDS[command]).splitlines())


def _train_command(args: list[str]) -> int:
    if any(a in ("-h", "--help") for a in args):
        print(train_help())
        return 0
    args = _train_preset(args)
    if any(a.startswith("-") and a != "--check" for a in args):  # Hydra's own flags (--cfg job, -m ...)
        sys.argv = ["synthgate train", *args]
        _train()
        return 0
    try:  # the config is composed and checked once, before work starts; --check stops here
        config = preflight.train_command(args)
    except preflight.UsageError as err:
        _fail("train", str(err))
    if config is not None:
        _console_log()
        _execute(config)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``synthgate`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    name, rest = args[0], args[1:]
    command = COMMANDS.get(name)
    if command is None:
        _fail(name, f"unknown command {name!r}; valid commands: {', '.join(sorted(COMMANDS))}")
    if not command.own_help and any(a in ("-h", "--help") for a in rest):
        print(f"synthgate {command_usage(name)}")
        return 0
    if name not in ("train", "resume"):
        user_log()
    try:
        return command.run(rest)
    except Stopped as stop:  # SIGINT / SIGTERM: every run checkpointed what it had, or never started
        print(f"synthgate {name}: stopped: {stop}", file=sys.stderr)
        return 128 + stop.signum
