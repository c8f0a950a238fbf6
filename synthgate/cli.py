"""``synthgate <command> [key=value ...]``: thin dispatch to the parts.

Commands take Hydra overrides; ``synthgate train --help`` shows Hydra's help with the config.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

import robots
from pipeline.config import ConfigError, TrainConfig

ConfigStore.instance().store(name="train_schema", node=TrainConfig)

USAGE = """usage: synthgate <command> [key=value ...]

commands:
  train    train a policy: synthgate train robot=<name> algo=sac steps=<n> seed=<s> run_dir=<path>
           (an existing run_dir is resumed from its last good checkpoint)
  robots   list the registered robots with their tags, layouts and failure predicates
  ledger   print a run's ledger: synthgate ledger <run_dir>
"""


def _fail(command: str, message: str) -> None:
    print(f"synthgate {command}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def _train(cfg: DictConfig) -> None:
    from pipeline.train import train  # heavy imports only when training

    config = OmegaConf.to_object(cfg)
    assert isinstance(config, TrainConfig)
    try:
        summary = train(config)
    except ConfigError as err:
        _fail("train", str(err))
        return
    print(
        f"done: {summary['robot']} {summary['algo']} seed {summary['seed']}: {summary['steps']} env steps, "
        f"{summary['updates']} updates, eval return {summary['eval_return_mean']:.1f}\n"
        f"run directory: {summary['run_dir']} (TensorBoard: tensorboard --logdir {summary['run_dir']}/tb)"
    )


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


def _ledger(args: Sequence[str]) -> int:
    import json
    from pathlib import Path

    from pipeline.ledger import format_table

    if len(args) != 1:
        _fail("ledger", "usage: synthgate ledger <run_dir>")
    path = Path(args[0]) / "ledger.jsonl"
    if not path.is_file():
        _fail("ledger", f"{path} does not exist: is {args[0]} a synthgate run directory?")
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    books = [e for e in events if e["kind"] in ("window", "final")]
    if not books:
        _fail("ledger", f"{path} holds no ledger summary yet (the run has not reached its first log window)")
    last = books[-1]
    print(f"ledger of {args[0]} at env step {last['step']} (configured real ratio {last['configured_real_ratio']})")
    print(format_table(last))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``synthgate`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = args[0], args[1:]
    if command == "train":
        sys.argv = ["synthgate train", *rest]
        _train()
        return 0
    if command == "robots":
        return _robots(rest)
    if command == "ledger":
        return _ledger(rest)
    _fail(command, f"unknown command {command!r}; valid commands: ledger, robots, train")
    return 2
