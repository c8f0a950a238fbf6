"""The runtime: a bundle's policy at a fixed rate on a robot, through the safety layer, timed.

One control step (a tick): observe -> safety check of the observation -> policy -> safety filter of
the action -> act. Ticks are scheduled at ``start + k / rate``; the loop sleeps to the next tick.
It measures its own timing: loop time (observe to act returned), tick lateness, and overruns (a
step whose work ends after the next tick was due; the schedule then skips to the next tick
boundary ahead instead of bursting to catch up).

A stop (non-finite observation or action, stale observation, failure predicate, SIGINT) sends the
robot's safe action and ends the run; the robot is disconnected on every exit path.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import numpy as np

import robots
from deploy.bundle import Bundle
from deploy.export import INPUT_NAME, OUTPUT_NAME, load_torchscript, onnx_session
from deploy.robot import Robot
from deploy.safety import SafetyConfig, SafetyLayer

Policy = Callable[[np.ndarray], np.ndarray]
ENGINES = ("onnx", "torchscript")


def load_policy(bundle: Bundle, engine: str = "onnx") -> Policy:
    """The bundle's policy as ``policy(obs[obs_dim]) -> action[act_dim]`` (float32).

    ``onnx`` runs the ONNX file with ONNX Runtime (one thread); ``torchscript`` the TorchScript file.
    The bundle must have been verified (:func:`deploy.bundle.load_bundle`) first.
    """
    policy = bundle.manifest["policy"]
    if engine == "onnx":
        session = onnx_session(bundle.root / policy["onnx"])

        def run_onnx(obs: np.ndarray) -> np.ndarray:
            x = np.asarray(obs, dtype=np.float32).reshape(1, -1)
            out: np.ndarray = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0][0]
            return out

        return run_onnx
    if engine == "torchscript":
        import torch

        module = load_torchscript(bundle.root / policy["torchscript"])

        def run_torchscript(obs: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                out: np.ndarray = module(torch.from_numpy(np.asarray(obs, dtype=np.float32).reshape(1, -1)))[0].numpy()
            return out

        return run_torchscript
    raise ValueError(f"engine={engine!r}: valid: {', '.join(ENGINES)}")


@dataclass(frozen=True)
class RuntimeConfig:
    """How the runtime runs."""

    rate_hz: float
    """Control rate."""
    episodes: int = 1
    """Episodes to run (one robot connection each)."""
    max_steps: int = 0
    """Control steps per episode at most; 0: until the robot reports the episode's end."""
    max_delta: float = 1.0
    """Largest change of an action dimension per step (normalized units)."""
    watchdog_s: float = 0.1
    """Observations older than this are stale."""
    estop_predicates: tuple[str, ...] | None = None
    """Predicates that e-stop; None: all of the robot's."""

    def __post_init__(self) -> None:
        if not self.rate_hz > 0:
            raise ValueError(f"rate_hz={self.rate_hz!r}: must be > 0")
        if self.episodes < 1:
            raise ValueError(f"episodes={self.episodes!r}: must be >= 1")
        if self.max_steps < 0:
            raise ValueError(f"max_steps={self.max_steps!r}: must be >= 0")


@dataclass
class Timing:
    """Per-step timing of the loop."""

    period_s: float
    loop_s: list[float] = field(default_factory=list)
    late_s: list[float] = field(default_factory=list)
    overruns: int = 0
    skipped_ticks: int = 0

    def record(self, start: float, due: float, done: float) -> float:
        """Records a step that began at ``start`` (due at ``due``) and ended at ``done``; returns the next tick.

        An overrun is a step that ends after the next tick was due; the schedule then moves to the
        first tick boundary after ``done`` (the ticks passed over are counted as skipped).
        """
        self.loop_s.append(done - start)
        self.late_s.append(max(start - due, 0.0))
        next_tick = due + self.period_s
        if done > next_tick:
            self.overruns += 1
            skipped = int((done - next_tick) // self.period_s) + 1
            self.skipped_ticks += skipped
            next_tick += skipped * self.period_s
        return next_tick

    def summary(self) -> dict[str, Any]:
        """p50 / p99 / max loop time and tick lateness in ms, overrun count and fraction."""
        n = len(self.loop_s)
        if not n:
            return {"steps": 0, "period_ms": self.period_s * 1e3, "overruns": 0}
        loop, late = np.asarray(self.loop_s) * 1e3, np.asarray(self.late_s) * 1e3
        return {
            "steps": n,
            "period_ms": self.period_s * 1e3,
            "loop_ms_p50": float(np.percentile(loop, 50)),
            "loop_ms_p99": float(np.percentile(loop, 99)),
            "loop_ms_max": float(loop.max()),
            "late_ms_p50": float(np.percentile(late, 50)),
            "late_ms_p99": float(np.percentile(late, 99)),
            "overruns": self.overruns,
            "overrun_fraction": self.overruns / n,
            "skipped_ticks": self.skipped_ticks,
        }


@dataclass
class EpisodeLog:
    """The frames of one episode as the robot saw them (complete transitions only)."""

    seed: int
    obs: list[np.ndarray] = field(default_factory=list)
    policy_action: list[np.ndarray] = field(default_factory=list)
    action: list[np.ndarray] = field(default_factory=list)
    next_obs: list[np.ndarray] = field(default_factory=list)
    reward: list[float] = field(default_factory=list)
    terminated: list[bool] = field(default_factory=list)
    clamped: list[bool] = field(default_factory=list)
    rate_limited: list[bool] = field(default_factory=list)
    obs_age_s: list[float] = field(default_factory=list)
    loop_s: list[float] = field(default_factory=list)
    end: str = ""

    def __len__(self) -> int:
        return len(self.next_obs)


@dataclass
class RunReport:
    """What a run did: episodes, interventions, timing, and why it ended."""

    episodes: list[EpisodeLog]
    counts: dict[str, int]
    events: list[dict[str, Any]]
    stop: dict[str, Any] | None
    timing: dict[str, Any]
    interrupted: bool

    @property
    def status(self) -> str:
        """``completed``, ``interrupted`` (SIGINT, clean shutdown) or ``safety_stop:<kind>``."""
        if self.stop is None:
            return "completed"
        return "interrupted" if self.stop["kind"] == "sigint" else f"safety_stop:{self.stop['kind']}"


class _Interrupt:
    """SIGINT sets a flag the loop reads every tick; a second SIGINT is Python's default again."""

    def __init__(self) -> None:
        self.flag = False
        self.previous: Any = None

    def __enter__(self) -> _Interrupt:
        try:
            self.previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: no handler, the flag stays usable by the caller
            self.previous = None
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.flag = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def run(
    robot: Robot,
    policy: Policy,
    robot_name: str,
    config: RuntimeConfig,
    *,
    interrupt: _Interrupt | None = None,
) -> RunReport:
    """Runs ``config.episodes`` episodes of ``policy`` on ``robot`` at ``config.rate_hz``.

    Args:
        robot: the backend (connected per episode, always disconnected).
        policy: observation -> normalized action.
        robot_name: the registry name whose failure predicates the e-stop reads.
        config: rate, episodes, limits.
        interrupt: a SIGINT flag holder (default: one installed for the run).

    Returns:
        The report; frames of complete transitions only (a transition whose next observation
        caused a stop is not logged as data, the stop event says why).
    """
    record = robots.get(robot_name)
    if robot.name != robot_name:
        raise ValueError(f"the backend drives robot {robot.name!r}, the bundle is for {robot_name!r}")
    predicates = config.estop_predicates if config.estop_predicates is not None else tuple(sorted(record.predicates))
    unknown = sorted(set(predicates) - set(record.predicates))
    if unknown:
        raise ValueError(f"e-stop predicates {unknown} are not {robot_name}'s; valid: {sorted(record.predicates)}")
    n = record.action_dim
    safety = SafetyLayer(
        SafetyConfig(np.full(n, -1.0, np.float32), np.full(n, 1.0, np.float32), config.max_delta,
                     config.watchdog_s, predicates),
        record.failures,
        robot.safe_action(),
    )  # fmt: skip
    period = 1.0 / config.rate_hz
    timing = Timing(period)
    episodes: list[EpisodeLog] = []
    guard = interrupt or _Interrupt()
    with guard:
        for episode in range(config.episodes):
            if safety.stop is not None:
                break
            with robot:
                safety.safe_action = np.asarray(robot.safe_action(), dtype=np.float32)
                safety.reset(episode)
                ep = EpisodeLog(seed=int(getattr(robot, "seed", 0)) + episode)
                episodes.append(ep)
                _episode(robot, policy, safety, config, timing, ep, guard)
    return RunReport(episodes, dict(safety.counts), safety.events, safety.stop, timing.summary(), guard.flag)


def _episode(
    robot: Robot,
    policy: Policy,
    safety: SafetyLayer,
    config: RuntimeConfig,
    timing: Timing,
    ep: EpisodeLog,
    guard: _Interrupt,
) -> None:
    pending: tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, bool], float, float] | None = None
    next_tick = time.monotonic()
    step = 0
    while True:
        if guard.flag:
            safety.record(step, "sigint", "SIGINT received: clean shutdown")
            robot.act(safety.safe_action)
            ep.end = "sigint"
            return
        start = time.monotonic()
        obs = robot.observe()
        now = time.monotonic()
        stop = safety.check_observation(step, obs, now)
        # The previous transition is completed by this observation, unless the observation is
        # unusable (non-finite, stale); a fall (e-stop) is a valid observation and is kept.
        if pending is not None and stop in (None, "estop_predicate"):
            s, raw, sent, flags, age, loop = pending
            ep.obs.append(s)
            ep.policy_action.append(raw)
            ep.action.append(sent)
            ep.next_obs.append(obs.state.copy())
            ep.reward.append(obs.reward)
            ep.terminated.append(obs.terminated)
            ep.clamped.append(flags["clamp"])
            ep.rate_limited.append(flags["rate_limit"])
            ep.obs_age_s.append(age)
            ep.loop_s.append(loop)
        if stop is not None:
            robot.act(safety.safe_action)
            timing.record(start, next_tick, time.monotonic())
            ep.end = stop
            return
        if pending is not None and (obs.terminated or obs.truncated):
            ep.end = "terminated" if obs.terminated else "truncated"
            return
        if config.max_steps and step >= config.max_steps:
            ep.end = "max_steps"
            return
        raw = np.asarray(policy(obs.state), dtype=np.float32)
        action, flags = safety.filter_action(step, raw)
        if action is None:
            robot.act(safety.safe_action)
            timing.record(start, next_tick, time.monotonic())
            ep.end = "nonfinite_action"
            return
        sent = robot.act(action)
        safety.applied(sent)
        done = time.monotonic()
        pending = (obs.state.copy(), raw, np.asarray(sent, dtype=np.float32), flags, now - obs.stamp, done - start)
        step += 1
        next_tick = timing.record(start, next_tick, done)
        time.sleep(max(next_tick - time.monotonic(), 0.0))
