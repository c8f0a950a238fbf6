"""An adapter from a LeRobot robot to synthgate's robot interface (optional: lerobot is not required).

Built on LeRobot's ``Robot`` interface as LeRobot documents it (``lerobot.robots.Robot``):
``connect(calibrate=...)``, ``disconnect()``, ``is_connected``, ``get_observation() -> dict`` (a
flat dict whose keys are ``observation_features``), ``send_action(dict) -> dict`` (returns the
action actually sent, possibly clipped by the robot's own limits), ``observation_features`` and
``action_features`` (key -> ``float`` for scalar values, or a shape tuple for images). Robots are
made from a config with ``lerobot.robots.utils.make_robot_from_config``.

The adapter maps named scalar features onto the bundle's flat observation (in the layout's order)
and its normalized actions onto named action features with per-key bounds (``[-1, 1]`` maps
linearly onto ``[low, high]``). The observation is stamped with the time ``get_observation`` was
called (the conservative end of the read). LeRobot robots report no reward: ``reward`` is NaN.
The safe action holds the current position of every action key that is also observed (position-
controlled arms), and the middle of the range otherwise.

lerobot does not import on this project's machines (Python 3.11 + CPU torch, REFERENCE.md);
:func:`make_lerobot_backend` then raises :class:`LeRobotUnavailable` with the import error. The
adapter itself (:class:`LeRobotBackend`) takes any object with those methods.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from deploy.robot import ContextRobot, Observation


class LeRobotUnavailable(RuntimeError):
    """lerobot cannot be imported here; the message carries the import error."""


def lerobot_import_error() -> str | None:
    """None when ``lerobot.robots`` imports, else why not (type and message of the error)."""
    try:
        import lerobot.robots  # noqa: F401
    except Exception as err:  # noqa: BLE001 - any import failure means: not available, say why
        return f"{type(err).__name__}: {err}"
    return None


class LeRobotBackend(ContextRobot):
    """A LeRobot ``Robot`` behind synthgate's robot interface.

    Args:
        robot: a LeRobot robot (or any object with its methods).
        name: the registry robot the bundle was trained for (its layout must match ``observation_keys``).
        observation_keys: scalar observation features, in the order of the bundle's observation.
        action_keys: scalar action features, in the order of the policy's action dimensions.
        action_low, action_high: the range of each action key in the robot's own units.
        calibrate: passed to ``robot.connect``.

    Raises:
        ValueError: a key the robot does not have, a non-scalar feature, or bounds of the wrong length.
    """

    def __init__(
        self,
        robot: Any,
        name: str,
        observation_keys: Sequence[str],
        action_keys: Sequence[str],
        action_low: Sequence[float],
        action_high: Sequence[float],
        calibrate: bool = False,
    ) -> None:
        self.robot, self.name, self.calibrate = robot, name, calibrate
        self.observation_keys, self.action_keys = list(observation_keys), list(action_keys)
        for side, keys, feats in (("observation", self.observation_keys, robot.observation_features),
                                  ("action", self.action_keys, robot.action_features)):  # fmt: skip
            missing = [k for k in keys if k not in feats]
            if missing:
                raise ValueError(f"LeRobot robot has no {side} feature(s) {missing}; it has {sorted(feats)}")
            shaped = [k for k in keys if feats[k] is not float]
            if shaped:
                raise ValueError(f"{side} features {shaped} are not scalar (float) features; map scalars only")
        self.low = np.asarray(action_low, dtype=np.float64)
        self.high = np.asarray(action_high, dtype=np.float64)
        if self.low.shape != (len(self.action_keys),) or self.high.shape != self.low.shape:
            raise ValueError(f"action bounds need {len(self.action_keys)} values each, got {self.low.shape}, "
                             f"{self.high.shape}")  # fmt: skip
        if not (self.low < self.high).all():
            raise ValueError(f"action_low {self.low.tolist()} must be below action_high {self.high.tolist()}")
        self._last: dict[str, Any] = {}
        self.seed = 0

    def connect(self) -> None:
        if not self.robot.is_connected:
            self.robot.connect(calibrate=self.calibrate)

    def observe(self) -> Observation:
        stamp = time.monotonic()
        raw = self.robot.get_observation()
        self._last = raw
        state = np.asarray([float(raw[k]) for k in self.observation_keys], dtype=np.float32)
        return Observation(state, stamp)

    def to_units(self, action: np.ndarray) -> np.ndarray:
        a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        out: np.ndarray = self.low + (a + 1.0) * 0.5 * (self.high - self.low)
        return out

    def to_normalized(self, values: np.ndarray) -> np.ndarray:
        return (2.0 * (np.asarray(values, dtype=np.float64) - self.low) / (self.high - self.low) - 1.0).astype(
            np.float32
        )

    def act(self, action: np.ndarray) -> np.ndarray:
        """Sends the action in robot units; returns what the robot reports it sent, normalized."""
        command = {k: float(v) for k, v in zip(self.action_keys, self.to_units(action), strict=True)}
        sent = self.robot.send_action(command)
        return self.to_normalized(np.asarray([float(sent.get(k, command[k])) for k in self.action_keys]))

    def safe_action(self) -> np.ndarray:
        """Hold: the current reading of each action key that is observed; the range's middle otherwise."""
        held = [float(self._last[k]) if k in self._last else 0.5 * (lo + hi)
                for k, lo, hi in zip(self.action_keys, self.low, self.high, strict=True)]  # fmt: skip
        return np.clip(self.to_normalized(np.asarray(held)), -1.0, 1.0)

    def disconnect(self) -> None:
        if self.robot.is_connected:
            self.robot.disconnect()


def make_lerobot_backend(manifest: dict[str, Any], robot_type: str | None, args: Sequence[str]) -> LeRobotBackend:
    """Builds a LeRobot robot from its config type and ``key=value`` arguments, wrapped for the runtime.

    Adapter keys among ``args``: ``obs_keys`` and ``action_keys`` (comma-separated feature names),
    ``action_low`` and ``action_high`` (comma-separated numbers), ``calibrate`` (true/false); every
    other ``key=value`` goes to the LeRobot robot config (``port``, ``id``...).

    Raises:
        LeRobotUnavailable: lerobot does not import here.
        ValueError: no ``robot_type``, malformed or missing arguments.
    """
    reason = lerobot_import_error()
    if reason is not None:
        raise LeRobotUnavailable(f"--backend lerobot needs the lerobot package, which does not import here: {reason}")
    if not robot_type:
        raise ValueError("--backend lerobot needs --lerobot-type (a LeRobot robot config type, e.g. so101_follower)")
    from lerobot.robots import RobotConfig
    from lerobot.robots.utils import make_robot_from_config

    adapter_keys = ("obs_keys", "action_keys", "action_low", "action_high", "calibrate")
    adapter: dict[str, str] = {}
    config: dict[str, str] = {}
    for item in args:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--lerobot-arg {item!r} is not key=value")
        (adapter if key in adapter_keys else config)[key] = value
    missing = [k for k in adapter_keys[:4] if k not in adapter]
    if missing:
        raise ValueError(f"--lerobot-arg needs {', '.join(f'{k}=...' for k in missing)}")
    robot = make_robot_from_config(RobotConfig.get_choice_class(robot_type)(**config))
    obs_keys = adapter["obs_keys"].split(",")
    if len(obs_keys) != manifest["robot"]["obs_dim"]:
        raise ValueError(
            f"obs_keys has {len(obs_keys)} keys, the bundle's observation has {manifest['robot']['obs_dim']}"
        )
    return LeRobotBackend(
        robot, manifest["robot"]["name"], obs_keys, adapter["action_keys"].split(","),
        [float(v) for v in adapter["action_low"].split(",")], [float(v) for v in adapter["action_high"].split(",")],
        calibrate=adapter.get("calibrate", "false").lower() == "true",
    )  # fmt: skip
