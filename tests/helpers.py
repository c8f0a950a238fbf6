"""Helpers shared by several test modules (imported as ``helpers``: tests/ is on sys.path via conftest)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import AlgoConfig, model_hyper
from pipeline.world_model import ModelHyper


def synthgate(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs the command line in a subprocess, as a user would (``env``: variables added to ours)."""
    return subprocess.run(
        [sys.executable, "-m", "synthgate", *args], capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, **env} if env else None,
    )  # fmt: skip


def hyper(**kw: object) -> ModelHyper:
    """The configured world-model defaults, small, with ``kw`` replaced."""
    small = {"members": 3, "elites": 2, "hidden": 16, "depth": 2, "weight_decay": (0.0, 0.0, 0.0), **kw}
    return dataclasses.replace(model_hyper(AlgoConfig()), **small)  # type: ignore[arg-type]


def plant_transitions(robot: str, steps: int, gap: object = None, seed: int = 1) -> dict[str, np.ndarray]:
    """``steps`` transitions of the plant of ``robot`` (with ``gap``) under uniform random actions,
    reset (to seed ``seed + t + 1``) after each episode's end: ``obs``, ``act``, ``rew``, ``next_obs``."""
    import robots

    env = robots.make(robot, gap=gap)
    rng = np.random.default_rng(seed)
    rows: dict[str, list[np.ndarray]] = {"obs": [], "act": [], "rew": [], "next_obs": []}
    obs, _ = env.reset(seed=seed)
    for t in range(steps):
        act = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        nxt, rew, term, trunc, _ = env.step(act)
        for key, value in zip(rows, (obs, act, rew, nxt), strict=True):
            rows[key].append(value)
        obs = nxt if not (term or trunc) else env.reset(seed=seed + t + 1)[0]
    return {k: np.asarray(v, dtype=np.float32 if k != "rew" else np.float64) for k, v in rows.items()}


def model_arrays(model: object) -> dict[str, np.ndarray]:
    """Copies of every numpy array of a MuJoCo model."""
    return {n: getattr(model, n).copy() for n in dir(model) if isinstance(getattr(model, n), np.ndarray)}


def rollout(env: Any, seed: int, steps: int) -> np.ndarray:
    """Observations of a seeded episode under fixed pseudo-random actions."""
    rng = np.random.default_rng(0)
    out = [env.reset(seed=seed)[0]]
    for _ in range(steps):
        out.append(env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))[0])
    return np.asarray(out)


def books_and_buffers(run_dir: Any) -> tuple[dict[str, Any], dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """The newest checkpoint of a run, what its ledger says the buffers hold, and what they hold:
    the real buffer and every synthetic source's pool, counted by ``(source, origin)``."""
    from pipeline import checkpoint
    from pipeline.buffer import ReplayBuffer
    from pipeline.ledger import Ledger

    found = checkpoint.load_latest(run_dir / "checkpoints")
    assert found is not None
    payload = found[1]
    ledger = Ledger()
    ledger.load_state_dict(payload["ledger"])
    contents: dict[tuple[str, str], int] = {}
    from pipeline.sources import pools

    states = [payload["buffer"], *pools(payload).values()]
    for state in (s for s in states if s is not None):
        buf = ReplayBuffer(state["obs"].shape[1], state["act"].shape[1], state["capacity"])
        buf.load_state_dict(state)
        contents.update(buf.counts())
    return payload, dict(ledger.held()), contents


# How a child process writes a file that another process waits for: whole, or not at all. It writes
# a hidden temporary name and renames it (atomic on POSIX), so :func:`wait_for` can never see the
# file created but still empty (issue 34: ``Path.write_text`` creates, then writes, and a signal sent
# in between left ``ready-<id>`` empty). ``PUBLISH_DELAY_S`` in the environment holds the content
# back that long before the rename, to hold that window open in a test.
PUBLISH = textwrap.dedent(
    """
    import os, time
    def publish(path, text):
        tmp = path.with_name("." + path.name + ".tmp")
        with open(tmp, "w") as f:
            time.sleep(float(os.environ.get("PUBLISH_DELAY_S", "0")))
            f.write(text)
        os.replace(tmp, path)
    """
)

# A stand-in for a run in a child process that checkpoints on a stop signal: run as
# ``python child.py <dir> <id>``, it writes ``<dir>/ready-<id>``, and on SIGTERM or SIGINT writes
# ``<dir>/saved-<id>`` (both hold its pid, each published whole) and exits 128 + signal, as
# ``synthgate train`` does.
SAVING_CHILD = PUBLISH + textwrap.dedent(
    """
    import signal, sys
    from pathlib import Path
    out = Path(sys.argv[1])
    def save(signum, frame):
        publish(out / f"saved-{sys.argv[2]}", str(os.getpid()))
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, save)
    signal.signal(signal.SIGINT, save)
    publish(out / f"ready-{sys.argv[2]}", str(os.getpid()))
    while True:
        time.sleep(0.05)
    """
)


def wait_for(paths: list[Path], seconds: float = 60.0) -> None:
    """Waits until every path exists (the writers publish them whole: :data:`PUBLISH`)."""
    end = time.monotonic() + seconds
    while not all(p.exists() for p in paths):
        assert time.monotonic() < end, f"never appeared: {[str(p) for p in paths if not p.exists()]}"
        time.sleep(0.05)


def gone(pid: int, seconds: float = 10.0) -> bool:
    """Whether process ``pid`` has ended (waiting up to ``seconds``)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


# The two library scenarios the validation tests use, Hopper-v5 failure modes (their ranges live in
# the scenario files only, so nothing here can drift from them).
PAYLOAD = "hopper_heavy_torso"
WEAK_THIGH = "hopper_weak_thigh"


def payload() -> Any:
    """A payload on the torso (``scenarios.Scenario``); metric failure_rate."""
    import scenarios

    return scenarios.get(PAYLOAD)


def weak_thigh() -> Any:
    """A weakened thigh actuator (``scenarios.Scenario``); metric time_to_failure."""
    import scenarios

    return scenarios.get(WEAK_THIGH)
