"""The robot interface the runtime drives: connect, observe, act, disconnect.

A backend is anything with these methods (a :class:`typing.Protocol`). It is also a context manager
(``with backend as robot:`` connects, and disconnects on any exit, so a fault or Ctrl-C in the loop
still releases the hardware); :class:`ContextRobot` gives a backend those two methods. One
connection is one episode: the runtime connects, runs, disconnects, and connects again for the next.

Actions cross the interface in the policy's normalized units, [-1, 1] per dimension; the backend
maps them to its actuators. ``act`` returns the action actually applied (after the backend's own
clamping, or the previous command when the backend knows the packet was lost), and that is what
the runtime logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Observation:
    """One observation packet from a robot.

    Attributes:
        state: the flat observation in the bundle's layout (float32).
        stamp: ``time.monotonic()`` seconds at which the state was measured; the runtime's
            watchdog compares it with the time it is read.
        reward: the task reward of the transition that produced this state, where the backend
            has one (a simulated plant does); NaN where it has none (most hardware).
        terminated: the plant reports a failure termination (Gymnasium's ``terminated``).
        truncated: the plant's episode ended by its time limit.
    """

    state: np.ndarray
    stamp: float
    reward: float = float("nan")
    terminated: bool = False
    truncated: bool = False


@runtime_checkable
class Robot(Protocol):
    """What the runtime needs from a robot."""

    name: str
    """The bundle's robot name this backend drives (checked against the manifest)."""

    def connect(self) -> None:
        """Opens the connection and brings the robot to a start state (an episode begins)."""

    def observe(self) -> Observation:
        """The latest observation packet (may be old: check ``stamp``)."""

    def act(self, action: np.ndarray) -> np.ndarray:
        """Sends a normalized action; returns the action actually applied."""

    def safe_action(self) -> np.ndarray:
        """The normalized action that is safe to hold (zero torque, or hold position)."""

    def disconnect(self) -> None:
        """Releases the robot; safe to call twice."""

    def __enter__(self) -> Robot:
        """Connects."""

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Disconnects, whatever happened inside the block."""


class ContextRobot:
    """Mixin: ``with backend as robot:`` calls ``connect()`` and, on any exit, ``disconnect()``."""

    def connect(self) -> None:
        raise NotImplementedError

    def disconnect(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Robot:
        self.connect()
        return self  # type: ignore[return-value]

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.disconnect()
