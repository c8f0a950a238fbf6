"""The LeRobot adapter: against LeRobot's own Robot class where lerobot imports, and its mapping logic
against a stand-in object with the same documented methods (not lerobot) everywhere."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import robots
from deploy.bundle import load_bundle
from deploy.lerobot_backend import LeRobotBackend, LeRobotUnavailable, lerobot_import_error, make_lerobot_backend
from deploy.robot import Robot
from deploy.runtime import RuntimeConfig, load_policy, run

ADAPTER_USES = ("connect", "disconnect", "get_observation", "send_action", "observation_features",
                "action_features", "is_connected")  # fmt: skip


def test_lerobot_robot_class_has_what_the_adapter_calls() -> None:
    reason = lerobot_import_error()
    if reason is not None:
        print(f"SKIPPED: lerobot does not import here: {reason}")
        pytest.skip(f"lerobot does not import here: {reason}")
    from lerobot.robots import Robot as LeRobotRobot

    members = dict(inspect.getmembers(LeRobotRobot))
    assert all(name in members for name in ADAPTER_USES), sorted(set(ADAPTER_USES) - set(members))
    assert "calibrate" in inspect.signature(LeRobotRobot.connect).parameters
    assert {"action"} <= set(inspect.signature(LeRobotRobot.send_action).parameters)


def test_cli_backend_says_why_when_lerobot_is_absent() -> None:
    if lerobot_import_error() is None:
        pytest.skip("lerobot imports here")
    with pytest.raises(LeRobotUnavailable, match="does not import here"):
        make_lerobot_backend({"robot": {"name": "cheetah-run", "obs_dim": 17}}, "so101_follower", [])


class DictRobot:
    """NOT lerobot: the cheetah plant behind LeRobot's documented dict interface (flat dicts of floats,
    ``send_action`` returns what it sent after clipping to its own limit of 1.5 units)."""

    def __init__(self) -> None:
        self.env = robots.make("cheetah-run", action_repeat=2)
        self.columns = robots.get("cheetah-run").layout.column_names()
        self.observation_features: dict[str, Any] = {c: float for c in self.columns}
        self.action_features: dict[str, Any] = {f"motor{i}.torque": float for i in range(6)}
        self.connected = False
        self.obs = np.zeros(17)
        self.received: list[dict[str, float]] = []

    @property
    def is_connected(self) -> bool:
        return self.connected

    def connect(self, calibrate: bool = True) -> None:
        self.connected = True
        self.obs, _ = self.env.reset(seed=0)

    def get_observation(self) -> dict[str, Any]:
        return {c: float(v) for c, v in zip(self.columns, self.obs, strict=True)}

    def send_action(self, action: dict[str, Any]) -> dict[str, Any]:
        self.received.append(dict(action))
        sent = {k: float(np.clip(v, -1.5, 1.5)) for k, v in action.items()}
        self.obs, *_ = self.env.step(np.asarray([sent[f"motor{i}.torque"] for i in range(6)]) / 2.0)
        return sent

    def disconnect(self) -> None:
        self.connected = False


def test_adapter_maps_names_units_and_reports_what_the_robot_sent(bundle: Path) -> None:
    fake = DictRobot()
    keys = [f"motor{i}.torque" for i in range(6)]
    backend = LeRobotBackend(fake, "cheetah-run", fake.columns, keys, [-2.0] * 6, [2.0] * 6)
    assert isinstance(backend, Robot)
    with backend as robot:
        obs = robot.observe()
        assert obs.state.shape == (17,) and np.isnan(obs.reward)
        got = robot.act(np.array([1.0, -1.0, 0.5, 0.0, -0.25, 0.9], dtype=np.float32))
    assert not fake.connected
    assert fake.received[0]["motor0.torque"] == 2.0 and fake.received[0]["motor2.torque"] == 1.0  # [-1, 1] -> +-2
    np.testing.assert_allclose(got, [0.75, -0.75, 0.5, 0.0, -0.25, 0.75], atol=1e-6)  # clipped by the robot to 1.5
    with pytest.raises(ValueError, match=r"no observation feature\(s\) \['nope'\]"):
        LeRobotBackend(fake, "cheetah-run", ["nope"], keys, [-1.0] * 6, [1.0] * 6)
    fake.action_features["motor0.torque"] = (3,)
    with pytest.raises(ValueError, match="not scalar"):
        LeRobotBackend(fake, "cheetah-run", fake.columns, keys, [-1.0] * 6, [1.0] * 6)


def test_runtime_drives_the_adapter(bundle: Path) -> None:
    fake = DictRobot()
    keys = [f"motor{i}.torque" for i in range(6)]
    backend = LeRobotBackend(fake, "cheetah-run", fake.columns, keys, [-2.0] * 6, [2.0] * 6)
    report = run(backend, load_policy(load_bundle(bundle)), "cheetah-run",
                 RuntimeConfig(rate_hz=50.0, max_steps=10, watchdog_s=0.06))  # fmt: skip
    assert report.status == "completed" and len(report.episodes[0]) == 10
    assert len(fake.received) == 10 and not fake.connected
    assert np.isnan(report.episodes[0].reward).all()  # LeRobot robots report no reward
