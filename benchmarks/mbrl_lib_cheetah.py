"""mbrl-lib's MBPO (facebookresearch/mbrl-lib, run from source) on dm_control cheetah-run, CPU, one
torch thread, timed per 250 env steps: the outside reference for synthgate's ``algo=ftfl`` loop
(benchmarks/ftfl_cheetah.sh), at the same MBPO settings (:data:`SETTINGS`; docs/performance.md).

Usage (benchmarks/mbrl_lib_cheetah.sh extracts the source and picks the interpreter):
    python benchmarks/mbrl_lib_cheetah.py --src /work/mbrl-lib-src --out DIR --steps 7500 [--seed 0]
        [--set algorithm.initial_exploration_steps=50 ...]
``--steps`` counts every env step, the random warm-up included (synthgate's ``steps``); ``--set``
takes Hydra overrides of mbrl-lib's config, applied last. The run writes into DIR:
``timing.csv`` (one row per 250 training env steps, taken in the env's step, before that step's
retrain and updates: wall-clock and process CPU seconds since the start, and the cumulative seconds
spent in model retrains and in mbrl-lib's per-epoch evaluation episode), ``retrains.csv`` (per model
retrain: env step, epochs run, seconds, dataset sizes), ``config.yaml`` (the composed config) and
mbrl-lib's own logs, model and buffer files. The interpreter needs torch, dm_control, gymnasium,
hydra-core 1.3 and termcolor (mbrl-lib's logger).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"
os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym
import numpy as np
import torch
from dm_control import suite
from omegaconf import DictConfig, OmegaConf

WINDOW = 250
"""Env steps per timing.csv row (synthgate's retrain interval and ftfl_cheetah.sh's log window)."""

MATCHED = """device=cpu algorithm.real_data_ratio=0.05 algorithm.learned_rewards=true dynamics_model.ensemble_size=7
    dynamics_model.num_layers=4 dynamics_model.hid_size=200 overrides.num_elites=5 overrides.freq_train_model=250
    overrides.effective_model_rollouts_per_step=400 overrides.rollout_schedule=[20,150,1,1]
    overrides.epoch_length=1000 overrides.model_lr=0.001 overrides.model_batch_size=256 overrides.validation_ratio=0.2
    overrides.patience=5 overrides.num_sac_updates_per_step=20 overrides.sac_hidden_size=256
    overrides.sac_batch_size=256"""
"""synthgate's ``algo=ftfl`` values (several equal to mbrl-lib's own), stated so that they cannot drift."""

SETTINGS = [
    "algorithm=mbpo",
    "overrides=mbpo_halfcheetah",  # the rest of mbrl-lib's MBPO settings: its HalfCheetah ones
    "dynamics_model=gaussian_mlp_ensemble",
    "+dynamics_model._recursive_=false",  # GaussianMLP instantiates activation_fn_cfg itself (Hydra 1.0 did not)
    "~action_optimizer",  # PETS only
    "overrides.env=dmcontrol___cheetah--run",  # a label only: the env is built here
    "algorithm.agent.action_space._target_=gymnasium.spaces.Box",  # mbrl-lib's YAML names gym.env.Box
    "algorithm.random_initial_explore=true",  # uniform random warm-up, as synthgate's learning_starts
    "algorithm.initial_exploration_steps=5000",  # synthgate's learning_starts default
    "+algorithm.dataset_size=1000000",  # real buffer: synthgate's buffer_capacity (mbrl-lib: num_steps)
    *MATCHED.split(),
]
"""Hydra overrides of mbrl-lib's ``main`` config: synthgate's ``algo=ftfl`` settings on cheetah-run."""
TIMING = "env_step wall_s cpu_s retrains retrain_wall_s eval_wall_s"
RETRAINS = "retrain env_step epochs wall_s cpu_s train_size val_size best_val_score"


class StepLimit(Exception):
    """Raised by the training env when asked for a step past ``--steps``: mbpo.train only checks its
    ``num_steps`` between epochs, so it would otherwise run on to the end of an epoch_length epoch."""


class Clock:
    """Counts training env steps and writes timing.csv and retrains.csv."""

    def __init__(self, out: Path, limit: int) -> None:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        self.step, self.limit, self.retrains, self.retrain_s, self.eval_s = 0, limit, 0, 0.0, 0.0
        self._timing = (out / "timing.csv").open("w", newline="")
        self._retrain = (out / "retrains.csv").open("w", newline="")
        self._row(self._timing, TIMING.split())
        self._row(self._retrain, RETRAINS.split())

    @staticmethod
    def _row(f: Any, row: list[Any]) -> None:
        csv.writer(f).writerow([f"{v:.3f}" if isinstance(v, float) else v for v in row])
        f.flush()

    def tick(self) -> None:
        self.step += 1
        if self.step % WINDOW == 0:
            wall, cpu = time.perf_counter() - self.wall0, time.process_time() - self.cpu0
            self._row(self._timing, [self.step, wall, cpu, self.retrains, self.retrain_s, self.eval_s])

    def retrained(self, epochs: int, wall: float, cpu: float, sizes: tuple[int, int], best: float) -> None:
        self.retrains += 1
        self.retrain_s += wall
        self._row(self._retrain, [self.retrains, self.step, epochs, wall, cpu, *sizes, f"{best:.6g}"])


class CheetahRun(gym.Env[np.ndarray, np.ndarray]):
    """dm_control cheetah-run as a Gymnasium env: the observation dict's arrays flattened in its order,
    the action space from the action spec, reward from the time step, truncation after 1000 steps (never
    terminated). A training env ticks ``clock`` per step; an ``evaluation`` env adds its episodes' time."""

    def __init__(self, seed: int, clock: Clock, evaluation: bool = False, max_steps: int = 1000) -> None:
        self._env = suite.load("cheetah", "run", task_kwargs={"random": seed, "time_limit": float("inf")})
        spec = self._env.action_spec()
        self.action_space = gym.spaces.Box(spec.minimum.astype(np.float32), spec.maximum.astype(np.float32))
        self.action_space.seed(seed)
        size = sum(int(np.prod(v.shape)) for v in self._env.observation_spec().values())
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(size,), dtype=np.float32)
        self.clock, self.evaluation, self.max_steps = clock, evaluation, max_steps
        self._t, self._episode_t0 = 0, 0.0

    @staticmethod
    def _flat(observation: dict[str, Any]) -> np.ndarray:
        flat = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in observation.values()])
        return flat.astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._t, self._episode_t0 = 0, time.perf_counter()
        return self._flat(self._env.reset().observation), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        if not self.evaluation and self.clock.step >= self.clock.limit:
            raise StepLimit
        ts = self._env.step(action)
        self._t += 1
        truncated = self._t >= self.max_steps
        if not self.evaluation:
            self.clock.tick()
        elif truncated:
            self.clock.eval_s += time.perf_counter() - self._episode_t0
        return self._flat(ts.observation), float(ts.reward), False, truncated, {}


def compose(src: Path, steps: int, seed: int, sets: list[str]) -> DictConfig:
    """mbrl-lib's config from a temporary copy of its YAMLs without their ``# @package _group_`` lines
    (Hydra 1.3 reads ``_group_`` as a literal package name and merges every group into one node)."""
    from hydra import compose, initialize_config_dir

    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "conf"
        shutil.copytree(src / "mbrl" / "examples" / "conf", conf)
        for path in conf.rglob("*.yaml"):
            lines = path.read_text().splitlines(keepends=True)
            path.write_text("".join(line for line in lines if not line.startswith("# @package")))
        with warnings.catch_warnings():  # main.yaml predates Hydra 1.1's `_self_`; no key of it is overridden
            warnings.filterwarnings("ignore", message=".*missing `_self_`")
            with initialize_config_dir(config_dir=str(conf), version_base=None):
                cfg = compose("main", overrides=[*SETTINGS, f"seed={seed}", *sets])
    explore = cfg.algorithm.initial_exploration_steps
    if not 0 < explore < steps:
        raise SystemExit(f"--steps {steps} must exceed algorithm.initial_exploration_steps={explore} (> 0)")
    cfg.overrides.num_steps = steps - explore  # mbrl-lib's num_steps excludes the warm-up
    return cfg


def timed_model_trainer(clock: Clock) -> None:
    """Wraps mbrl-lib's ModelTrainer.train (mbpo.train passes it no callback) to record each retrain."""
    from mbrl.models import ModelTrainer

    train = ModelTrainer.train

    def timed(self: ModelTrainer, dataset_train: Any, *args: Any, callback: Any = None, **kwargs: Any) -> Any:
        epochs, best = 0, [float("nan")]

        def count(*cb_args: Any) -> None:
            nonlocal epochs
            epochs += 1
            best[0] = float(cb_args[5].mean()) if cb_args[5] is not None else float("nan")
            if callback is not None:
                callback(*cb_args)

        wall0, cpu0 = time.perf_counter(), time.process_time()
        result = train(self, dataset_train, *args, callback=count, **kwargs)
        val = kwargs.get("dataset_val", args[0] if args else None)
        sizes = (dataset_train.num_stored, val.num_stored if val is not None else 0)
        clock.retrained(epochs, time.perf_counter() - wall0, time.process_time() - cpu0, sizes, best[0])
        return result

    ModelTrainer.train = timed  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, required=True, help="extracted mbrl-lib source (holds mbrl/)")
    parser.add_argument("--out", type=Path, required=True, help="run directory")
    parser.add_argument("--steps", type=int, default=7500, help="env steps in all, the warm-up included")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="Hydra override, last")
    args = parser.parse_args()
    src = args.src.resolve()
    sys.path.insert(0, str(src))
    torch.set_num_threads(1)
    import mbrl.algorithms.mbpo as mbpo
    from mbrl.env.termination_fns import no_termination

    cfg = compose(src, args.steps, args.seed, args.set)
    args.out.mkdir(parents=True, exist_ok=True)
    clock = Clock(args.out, args.steps)
    timed_model_trainer(clock)
    env, test_env = CheetahRun(args.seed, clock), CheetahRun(args.seed + 1, clock, evaluation=True)
    # gymnasium's Box refuses the list bounds mbrl-lib would fill in (old gym took them): scalars, as cheetah's are
    box, (low, high) = cfg.algorithm.agent.action_space, (env.action_space.low, env.action_space.high)
    assert np.ptp(low) == np.ptp(high) == 0, "scalar Box bounds need uniform action bounds"
    box.low, box.high = float(low[0]), float(high[0])
    OmegaConf.save(cfg, args.out / "config.yaml")
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    with contextlib.suppress(StepLimit):
        mbpo.train(env, test_env, no_termination, cfg, work_dir=str(args.out))
    wall, cpu = time.perf_counter() - clock.wall0, time.process_time() - clock.cpu0
    print(f"done: {clock.step} env steps, {wall:.1f} s wall, {cpu:.1f} s CPU, {clock.retrains} retrains "
          f"({clock.retrain_s:.1f} s); {args.out}/timing.csv, retrains.csv")  # fmt: skip


if __name__ == "__main__":
    main()
