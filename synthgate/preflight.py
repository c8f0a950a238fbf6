"""``synthgate train``'s checks before any work starts (issue 8).

Every override, config value, scenario name, dataset path and the run directory is checked
before a network is built or a file written. A rejection is one line, ``synthgate train: error:
<field>=<value>: <what is allowed>``, and exit status 2 (never a traceback). ``synthgate train
--check [overrides]`` runs only these checks and prints the resolved config.

Failures after the start are reported the same way: a write the disk or the permissions refuse
(exit status 1, naming the path when the system does), and a run stopped by
:class:`pipeline.faults.RunStopped` (exit status 3, with its diagnosis).
"""

from __future__ import annotations

import dataclasses
import difflib
import errno
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn

from omegaconf import OmegaConf

from pipeline.config import ALGORITHMS, ConfigError, TrainConfig, flat_items, seed_config, validate

EXIT_USAGE, EXIT_IO, EXIT_STOPPED = 2, 1, 3
"""Exit statuses: a rejected input; a write the system refused; a run stopped by a numerical fault."""


class UsageError(ValueError):
    """An input ``synthgate train`` rejects before work starts; the message names field, value, options."""


def _field_paths() -> list[str]:
    paths = set(flat_items(TrainConfig()))
    for path in list(paths):
        parts = path.split(".")
        paths.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return sorted(paths)


def _unknown_key(key: str, value: str, own: Sequence[str] = (), reserved: Sequence[str] = ()) -> str:
    """The message for ``key``, which names no field: the closest valid keys, then all of them.

    ``own`` are the calling command's own top-level keys (valid too, named "keys" then, not
    "fields"); ``reserved`` are fields the command sets itself (neither suggested nor listed).
    """
    parent = key.rsplit(".", 1)[0] if "." in key else ""
    if parent in ("robot_settings",):
        return f"{key}={value}: robot_settings has no key {key.rsplit('.', 1)[1]!r}; add one with +{key}={value}"
    siblings = {p for p in _field_paths() if (p.rsplit(".", 1)[0] if "." in p else "") == parent}
    if not parent:
        siblings |= set(own)
    valid = sorted(siblings - set(reserved))
    leaves = {v.rsplit(".", 1)[-1]: v for v in valid}  # matched on the last part: "sac." is no likeness
    close = [leaves[n] for n in difflib.get_close_matches(key.rsplit(".", 1)[-1], list(leaves), n=3)]
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    noun = "key" if own and not parent else "field"
    where = f"{noun}s of {parent}" if parent else f"{noun}s"
    return f"{key}={value}: no such {noun}{hint}; valid {where}: " + ", ".join(s.rsplit(".", 1)[-1] for s in valid)


_FREE = ("robot_settings", "import_datasets", "hydra", "scenario")
"""Top-level keys whose sub-keys are checked by their own validators, not against the schema."""


def check_keys(given: Mapping[str, str], own: Sequence[str] = (), reserved: Sequence[str] = ()) -> None:
    """Refuses the first ``key=value`` of ``given`` whose key names no field of the train config
    (nor one of ``own``, the calling command's keys).

    Raises:
        UsageError: the key, the closest valid keys and all valid ones (see :func:`_unknown_key`).
    """
    known = set(_field_paths()) | set(own)
    for key, value in given.items():
        bare = key.lstrip("+~")
        if bare not in known and bare.split(".")[0] not in _FREE and "[" not in bare:
            raise UsageError(_unknown_key(bare, value, own, reserved))


def explain(err: BaseException, overrides: dict[str, str]) -> str:
    """One line for a Hydra / OmegaConf composition error: the field, the value, what is allowed."""
    from hydra.errors import MissingConfigException, OverrideParseException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, MissingMandatoryValue, OmegaConfBaseException

    chain: list[BaseException] = []
    cause: BaseException | None = err
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    for exc in chain:
        if isinstance(exc, OverrideParseException):
            return f"{exc.override!r} is not a valid override: write key=value ({str(exc).splitlines()[0]})"
        if isinstance(exc, MissingConfigException):
            group = "scenario" if "'scenario/" in str(exc) or "'scenario'" in str(exc) else "algo"
            text = str(exc).split(f"Available options in '{group}':", 1)[-1].split("Config search path", 1)[0]
            options = [ln.strip() for ln in text.splitlines() if ln.strip()]
            what = "scenario" if group == "scenario" else "algorithm"
            return f"{group}={overrides.get(group, '?')}: unknown {what}; valid: {', '.join(options)}"
        if isinstance(exc, OmegaConfBaseException) and getattr(exc, "full_key", None):
            key = str(exc.full_key)
            shown = overrides.get(key, repr(exc.value) if exc.value is not None else "null")
            if isinstance(exc, ConfigAttributeError | ConfigKeyError):
                return _unknown_key(key, shown)
            if isinstance(exc, MissingMandatoryValue):
                return f"{key}: required, and not given"
            return f"{key}={shown}: {str(exc).splitlines()[0]}"
    text = " ".join(str(err).split())
    for key, value in overrides.items():  # name the override the message is about first
        if f"{key}={value}" in text:
            return f"{key}={value}: {text}"
    given = " ".join(f"{k}={v}" for k, v in overrides.items())  # not sure which one: name them all
    return f"{given}: {text or type(err).__name__}"


def compose(overrides: list[str]) -> TrainConfig:
    """The typed config ``overrides`` make.

    Raises:
        UsageError: an override that does not parse, names no field, or has a value of the wrong type.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    given: dict[str, str] = {}
    try:
        for ov in OverridesParser.create().parse_overrides(overrides):
            line = ov.input_line or ""
            given[ov.key_or_group] = line.split("=", 1)[1] if "=" in line else ""
    except HydraException as err:
        raise UsageError(explain(err, given)) from None
    if "algo" in given and given["algo"] not in ALGORITHMS:  # the config group: a preset name only
        raise UsageError(f"algo={given['algo']}: unknown algorithm; valid: {', '.join(sorted(ALGORITHMS))}")
    check_keys(given)
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module="synthgate.conf", version_base="1.3"):
            cfg = hydra_compose(config_name="train", overrides=[o for o in overrides if not o.startswith("hydra.")])
        # Interpolations (``${seed}``) are resolved first and the result merged into the schema
        # again, so a resolved value of the wrong type is caught here too.
        resolved = OmegaConf.to_container(cfg, resolve=True)
        config = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(TrainConfig), resolved))
    except (HydraException, OmegaConfBaseException, ValueError, TypeError) as err:
        raise UsageError(explain(err, given)) from None
    finally:
        GlobalHydra.instance().clear()
    assert isinstance(config, TrainConfig)
    return config


def _check_scenarios(cfg: TrainConfig) -> None:
    import scenarios

    try:  # the listed names and the Hydra group's scenario (its data validated as a scenario file is)
        chosen = scenarios.resolve(cfg.scenarios, cfg.scenario)
    except scenarios.ScenarioError as err:
        raise UsageError(f"scenarios: {err}") from None
    for scenario in chosen:
        if scenario.robot != cfg.robot:
            raise UsageError(f"scenarios: {scenario.name} is a scenario of {scenario.robot}, not of robot={cfg.robot}")


def _check_datasets(cfg: TrainConfig) -> None:
    """Reads and maps each dataset onto the robot exactly as the run will, into a scratch buffer."""
    import robots
    from pipeline.buffer import ReplayBuffer
    from pipeline.interchange import import_dataset, import_generated
    from robots.lerobot_format import DatasetError, read_dataset

    record = robots.get(cfg.robot)
    for i, ds in enumerate(cfg.import_datasets):
        try:
            frames = len(read_dataset(Path(ds.path)).frames["index"])
            if ds.synthetic:
                import_generated(ds, cfg.robot, [])
            else:
                scratch = ReplayBuffer(record.layout.size, record.action_dim, max(min(frames, cfg.buffer_capacity), 1))
                import_dataset(ds, cfg.robot, scratch)
        except (DatasetError, OSError, ValueError, KeyError) as err:
            raise UsageError(f"import_datasets[{i}].path={ds.path!r}: {' '.join(str(err).split())}") from None


def _check_machine(cfg: TrainConfig) -> None:
    """Refuses what this machine cannot do: buffers and networks (allocated up front) larger than
    its memory, more threads than it has cores, a CUDA device it lacks."""
    import robots

    cores = os.cpu_count() or 1
    if cfg.threads > cores:
        raise UsageError(f"threads={cfg.threads}: must be in [0, {cores}] (this machine's cores; 0: torch's default)")
    if cfg.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UsageError(f"device={cfg.device!r}: CUDA is not available on this machine; valid: auto, cpu")
    record = robots.get(cfg.robot)
    obs, act = record.layout.size, record.action_dim
    row = 4 * (2 * obs + act + 1) + 1 + 1 + 4 + 8 + 2
    rows = cfg.buffer_capacity
    s, m = cfg.sac, cfg.algo.model
    weights = 4 * 6 * (s.hidden * (obs + act + 2) + s.depth * s.hidden**2)  # actor, twin critics, targets
    batches = 8 * s.batch_size * row
    if cfg.algo.model_based:
        k_max = max(cfg.algo.rollout_schedule[2], cfg.algo.rollout_schedule[3])
        rows += cfg.algo.rollouts_per_step * 1000 * k_max * cfg.algo.model_retain_epochs
        rows += cfg.algo.rollouts_per_step * cfg.algo.retrain_every  # rollout starts
        weights += 4 * 4 * m.members * (m.hidden * (2 * obs + act + 2) + m.depth * m.hidden**2)  # + Adam moments
        batches += 8 * m.members * m.batch_size * row
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return
    need = rows * row + weights + batches
    if need > total:
        raise UsageError(
            f"this config needs about {need / 2**30:.1f} GiB up front ({rows} buffered transitions with "
            f"buffer_capacity={cfg.buffer_capacity}, sac.hidden={s.hidden}, sac.batch_size={s.batch_size}"
            + (f", algo.model.members={m.members}, algo.model.hidden={m.hidden}" if cfg.algo.model_based else "")
            + f"); this machine has {total / 2**30:.1f} GiB: make them smaller"
        )


def _check_run_dir(cfg: TrainConfig) -> None:
    """The run directory can be written, or created: a probe file is written and removed in it, or
    in its nearest existing parent (nothing is created)."""
    from pipeline import checkpoint

    run_dir = Path(cfg.run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"run_dir={cfg.run_dir!r}: exists and is not a directory")
    existing = run_dir.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"run_dir={cfg.run_dir!r}: {existing} is not a directory")
    probe = existing / f".synthgate-write-probe-{os.getpid()}"
    try:
        checkpoint.atomic_write(probe, b"probe")
        probe.unlink()
    except OSError as err:
        why = os.strerror(err.errno) if err.errno else str(err)
        raise UsageError(f"run_dir={cfg.run_dir!r}: cannot write there ({why}, at {existing})") from None
    saved = run_dir / "config.yaml"
    if saved.exists():
        import yaml

        try:
            data = yaml.safe_load(saved.read_text())
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as err:
            raise UsageError(f"run_dir={cfg.run_dir!r}: its config.yaml cannot be read ({err})") from None
        if not isinstance(data, dict):
            raise UsageError(f"run_dir={cfg.run_dir!r}: its config.yaml holds no config; use another run_dir")


def check_train(overrides: list[str]) -> TrainConfig:
    """Every check, in order; returns the validated config.

    Raises:
        UsageError: the first problem found.
    """
    cfg = compose(overrides)
    try:
        validate(cfg)
    except ConfigError as err:
        raise UsageError(str(err)) from None
    _check_scenarios(cfg)
    _check_machine(cfg)
    _check_datasets(cfg)
    for run in [seed_config(cfg, s) for s in cfg.stacked_seeds] or [cfg]:  # a stacked run: each seed's directory
        _check_run_dir(run)
    return cfg


def train_command(args: list[str]) -> TrainConfig | None:
    """The config of ``synthgate train args``, composed and checked once; None when ``--check``
    asked for the checks only (the config is printed).

    Raises:
        UsageError: an input that would be rejected.
    """
    check_only = "--check" in args
    cfg = check_train([a for a in args if a != "--check"])
    if not check_only:
        return cfg
    import yaml

    print(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False), end="")
    print(f"synthgate train: config OK (run_dir {cfg.run_dir})")
    return None


def seed_list(arg: str) -> str:
    """``seeds=N`` (a count) as ``seeds=[0,...,N-1]``; any other argument unchanged. ``seeds`` is a
    list of seeds wherever it is a key (``synthgate run``, ``synthgate arms``); a count is shorthand."""
    key, _, value = arg.partition("=")
    if key == "seeds" and value.strip().isdigit():
        return f"seeds=[{','.join(str(s) for s in range(int(value)))}]"
    return arg


def fail(command: str, message: str) -> NoReturn:
    """Ends ``synthgate <command>`` with one error line on stderr and exit status 2 (a usage error)."""
    print(f"synthgate {command}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def fail_run(err: BaseException, run_dir: str) -> NoReturn:
    """Reports a failure after the start in one line and exits (1: a refused write; 2: no usable
    checkpoint in the run directory; 3: stopped by a numerical fault)."""
    from pipeline.checkpoint import CheckpointError
    from pipeline.faults import RunStopped

    if isinstance(err, CheckpointError):
        print(f"synthgate train: error: run_dir={run_dir!r}: {err}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)
    if isinstance(err, RunStopped):
        print(f"synthgate train: {err}", file=sys.stderr)  # "stopped at env step ...: why. Found: ..."
        raise SystemExit(EXIT_STOPPED)
    assert isinstance(err, OSError)
    what = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
            errno.EACCES: "permission denied", errno.EPERM: "permission denied",
            errno.EROFS: "the file system is read-only"}.get(err.errno or 0, err.strerror or str(err))  # fmt: skip
    where = err.filename or f"a file in {run_dir}"
    print(
        f"synthgate train: error: could not write {where}: {what}. "
        "Files already written are intact; fix this and run the same command: it resumes from the last checkpoint.",
        file=sys.stderr,
    )
    raise SystemExit(EXIT_IO)
