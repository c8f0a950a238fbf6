"""The safety layer between the policy and the robot.

Per control step, in this order:

1. the observation: non-finite -> safe action and stop; older than the watchdog timeout (stale)
   -> safe action and stop; a failure predicate of the robot true -> e-stop (safe action and stop);
2. the policy's action: non-finite -> safe action and stop; outside the bounds -> clamped; more
   than ``max_delta`` away from the previous applied action in any dimension -> limited to it.

A stop always sends the robot's safe action once (not rate-limited: reaching the safe command at
once is the point). Every intervention is counted by kind and kept as an event (step, kind,
detail), and logged through :mod:`logging`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from deploy.robot import Observation

log = logging.getLogger("deploy.safety")

CORRECTIONS = ("clamp", "rate_limit")
"""Interventions that change the action and let the robot go on."""
STOPS = ("nonfinite_observation", "stale_observation", "estop_predicate", "nonfinite_action", "sigint")
"""Interventions that send the safe action and stop the run."""


@dataclass(frozen=True)
class SafetyConfig:
    """Limits the safety layer enforces."""

    low: np.ndarray
    """Lower action bound per dimension (normalized units)."""
    high: np.ndarray
    """Upper action bound per dimension (normalized units)."""
    max_delta: float
    """Largest change of any action dimension from one step to the next (normalized units)."""
    watchdog_s: float
    """An observation older than this (now minus its stamp) is stale."""
    estop_predicates: tuple[str, ...]
    """The robot's failure predicates that trigger an e-stop."""

    def __post_init__(self) -> None:
        if not self.max_delta > 0:
            raise ValueError(f"max_delta={self.max_delta!r}: must be > 0")
        if not self.watchdog_s > 0:
            raise ValueError(f"watchdog_s={self.watchdog_s!r}: must be > 0")
        if not (np.asarray(self.low) <= np.asarray(self.high)).all():
            raise ValueError(f"action bounds low {self.low} exceed high {self.high}")


class SafetyLayer:
    """Checks observations, filters actions, counts and records every intervention.

    Args:
        config: the limits.
        failures: ``failures(state) -> {predicate name: bool}`` (the robot record's predicates).
        safe_action: the robot's safe action (normalized).
    """

    def __init__(
        self, config: SafetyConfig, failures: Callable[[np.ndarray], dict[str, Any]], safe_action: np.ndarray
    ) -> None:
        self.config = config
        self.failures = failures
        self.safe_action = np.asarray(safe_action, dtype=np.float32)
        self.counts = dict.fromkeys((*CORRECTIONS, *STOPS), 0)
        self.events: list[dict[str, Any]] = []
        self.stop: dict[str, Any] | None = None
        self.previous = self.safe_action.copy()
        self.episode = 0

    def reset(self, episode: int, applied: np.ndarray | None = None) -> None:
        """A new episode starts from ``applied`` (default: the safe action)."""
        self.episode = episode
        self.previous = self.safe_action.copy() if applied is None else np.asarray(applied, dtype=np.float32)

    def record(self, step: int, kind: str, detail: str, **values: Any) -> None:
        """Counts an intervention and keeps it as an event; a stop kind also sets :attr:`stop`."""
        self.counts[kind] += 1
        event = {"episode": self.episode, "step": step, "kind": kind, "detail": detail, **values}
        self.events.append(event)
        if kind in STOPS:
            log.warning("safety stop at episode %d step %d: %s: %s", self.episode, step, kind, detail)
            if self.stop is None:
                self.stop = event
        else:
            log.debug("safety %s at episode %d step %d: %s", kind, self.episode, step, detail)

    def check_observation(self, step: int, obs: Observation, now: float) -> str | None:
        """None when the observation may be used; else the kind of stop it caused (recorded)."""
        state = obs.state
        if not np.isfinite(state).all():
            bad = np.flatnonzero(~np.isfinite(state)).tolist()
            self.record(step, "nonfinite_observation", f"observation columns {bad[:8]} are NaN or infinite")
            return "nonfinite_observation"
        age = now - obs.stamp
        if age > self.config.watchdog_s:
            self.record(step, "stale_observation",
                        f"observation is {age * 1e3:.1f} ms old > watchdog {self.config.watchdog_s * 1e3:.1f} ms",
                        age_s=age)  # fmt: skip
            return "stale_observation"
        failed = self.failures(state)
        tripped = [name for name in self.config.estop_predicates if bool(failed[name])]
        if tripped:
            self.record(step, "estop_predicate", f"failure predicate(s) {', '.join(tripped)} true", predicates=tripped)
            return "estop_predicate"
        return None

    def filter_action(self, step: int, action: np.ndarray) -> tuple[np.ndarray | None, dict[str, bool]]:
        """The action to send, and which corrections were made; None after recording a non-finite stop."""
        a = np.asarray(action, dtype=np.float32).reshape(-1)
        if not np.isfinite(a).all():
            self.record(step, "nonfinite_action", f"policy output {a.tolist()} is not finite")
            return None, {"clamp": False, "rate_limit": False}
        cfg = self.config
        clamped = np.clip(a, cfg.low, cfg.high)
        did_clamp = bool((clamped != a).any())
        if did_clamp:
            self.record(step, "clamp", f"dimensions {np.flatnonzero(clamped != a).tolist()} clamped to bounds")
        limited = np.clip(clamped, self.previous - cfg.max_delta, self.previous + cfg.max_delta)
        did_limit = bool((limited != clamped).any())
        if did_limit:
            worst = float(np.abs(clamped - self.previous).max())
            self.record(step, "rate_limit", f"change {worst:.3f} > max_delta {cfg.max_delta:g}", change=worst)
        return limited.astype(np.float32), {"clamp": did_clamp, "rate_limit": did_limit}

    def applied(self, action: np.ndarray) -> None:
        """Tells the layer what the robot actually applied (the rate limit's reference)."""
        self.previous = np.asarray(action, dtype=np.float32).copy()
