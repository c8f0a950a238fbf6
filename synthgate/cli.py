"""``synthgate <command> [key=value ...]``: thin dispatch to the parts.

Commands take Hydra overrides; ``synthgate train --help`` shows Hydra's help with the config.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import NoReturn

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

import robots
import scenarios
from pipeline.config import ConfigError, TrainConfig

ConfigStore.instance().store(name="train_schema", node=TrainConfig)

USAGE = """usage: synthgate <command> [key=value ...]

commands:
  train    train a policy: synthgate train robot=<name> algo=sac steps=<n> seed=<s> run_dir=<path>
           (an existing run_dir is resumed from its last good checkpoint)
  robots     list the registered robots with their tags, layouts and failure predicates
  scenarios  list the scenario library (named rare failure modes)
  ledger   print a run's ledger: synthgate ledger <run_dir>
  stress   look for a policy's failures in the world model, confirm them on the plant, estimate the
           failure probability: synthgate stress <run_dir> scenario=<name> [key=value ...]
  export   write a run's transitions as a LeRobot v3.0 dataset:
           synthgate export <run_dir> --what real|synthetic|panels --out <dir> [--episodes N] [--video]
"""


def _fail(command: str, message: str) -> NoReturn:
    print(f"synthgate {command}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def _train(cfg: DictConfig) -> None:
    from pipeline.train import train  # heavy imports only when training

    config = OmegaConf.to_object(cfg)
    assert isinstance(config, TrainConfig)
    exposures = {}
    for name in config.scenarios:
        try:
            scenario = scenarios.get(name)
        except scenarios.ScenarioError as err:
            _fail("train", f"scenarios: {err}")
        if scenario.robot != config.robot:
            _fail("train", f"scenarios: {name} is a scenario of {scenario.robot}, not of robot={config.robot}")
        exposures[name] = scenario.perturbations
    from scenarios.generator import for_config

    try:
        targeter = for_config(config)
    except scenarios.ScenarioError as err:
        _fail("train", f"targeted: {err}")
    try:
        summary = train(config, exposures, targeter)
    except ConfigError as err:
        _fail("train", str(err))
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
    parser.add_argument("--video", action="store_true", help="render real episodes (plant replayed) as mp4")
    opts = parser.parse_args(list(args))
    if opts.what == "panels":
        _fail("export", "this run has no validation panels: panels are made by the validation stage, "
                        "which is not built yet (issue 6); export real or synthetic")  # fmt: skip
    config_path = opts.run_dir / "config.yaml"
    if not config_path.is_file():
        _fail("export", f"{config_path} does not exist: is {opts.run_dir} a synthgate run directory?")
    cfg = yaml.safe_load(config_path.read_text())
    found = checkpoint.load_latest(opts.run_dir / "checkpoints")
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
    if command == "scenarios":
        for name in scenarios.names():
            s = scenarios.get(name)
            families = ",".join(p.family for p in s.perturbations)
            print(f"{name:20s} {s.robot:24s} {families:32s} predicate {s.predicate:12s} metric {s.metric}")
        return 0
    if command == "export":
        return _export(rest)
    if command == "stress":
        from synthgate.stress import main as stress_main

        return stress_main(rest)
    _fail(command, f"unknown command {command!r}; valid commands: export, ledger, robots, scenarios, stress, train")
    return 2
