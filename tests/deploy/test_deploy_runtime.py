"""The runtime on the MuJoCo stand-in: timing measured, each safety intervention triggered on purpose."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deploy.bundle import load_bundle
from deploy.mujoco_backend import Faults, MujocoStandIn, RealityGap, parse_settings
from deploy.robot import ContextRobot, Observation, Robot
from deploy.runtime import RunReport, RuntimeConfig, load_policy, run

RATE = 50.0


class Recorder(ContextRobot):
    """Wraps a backend and records what crossed the interface (the robot interface is all it sees)."""

    def __init__(self, inner: MujocoStandIn) -> None:
        self.inner, self.name, self.seed = inner, inner.name, inner.seed
        self.sent: list[np.ndarray] = []
        self.connects = self.disconnects = 0

    def connect(self) -> None:
        self.connects += 1
        self.inner.connect()

    def observe(self) -> Observation:
        return self.inner.observe()

    def act(self, action: np.ndarray) -> np.ndarray:
        self.sent.append(np.asarray(action).copy())
        return self.inner.act(action)

    def safe_action(self) -> np.ndarray:
        return self.inner.safe_action()

    def disconnect(self) -> None:
        self.disconnects += 1
        self.inner.disconnect()


def _run(bundle: Path, policy: Any = None, *, gap: RealityGap | None = None, faults: Faults | None = None,
         **cfg: Any) -> tuple[RunReport, Recorder]:  # fmt: skip
    b = load_bundle(bundle)
    robot = Recorder(MujocoStandIn("cheetah-run", b.manifest["control"]["robot_settings"], gap, faults, seed=3))
    config = RuntimeConfig(rate_hz=RATE, **{"max_steps": 25, "watchdog_s": 0.06, **cfg})
    report = run(robot, policy or load_policy(b), "cheetah-run", config)
    robot.inner.close()
    return report, robot


def test_nominal_run_holds_its_rate_and_measures_its_timing(bundle: Path) -> None:
    t0 = time.monotonic()
    report, robot = _run(bundle, episodes=2, max_delta=0.5)
    wall = time.monotonic() - t0
    assert report.status == "completed" and report.stop is None
    assert [len(ep) for ep in report.episodes] == [25, 25] and robot.connects == robot.disconnects == 2
    t = report.timing
    print("timing:", t)
    assert t["steps"] == 50 and 0 < t["loop_ms_p50"] <= t["loop_ms_p99"] <= t["loop_ms_max"]
    assert wall >= 50 / RATE * 0.9  # a fixed-rate loop: 50 steps at 50 Hz take about a second
    assert all(report.counts[k] == 0 for k in ("nonfinite_observation", "stale_observation", "estop_predicate"))
    sent = np.asarray(report.episodes[0].action)
    assert np.abs(sent).max() <= 1.0 and np.abs(np.diff(sent, axis=0)).max() <= 0.5 + 1e-6
    assert report.counts["rate_limit"] == sum(sum(ep.rate_limited) for ep in report.episodes)


def test_nan_observation_sends_the_safe_action_and_stops(bundle: Path) -> None:
    report, robot = _run(bundle, faults=Faults(nan_obs_at=5))
    assert report.status == "safety_stop:nonfinite_observation" and report.counts["nonfinite_observation"] == 1
    assert report.stop is not None and report.stop["step"] == 5
    np.testing.assert_array_equal(robot.sent[-1], robot.safe_action())
    assert len(robot.sent) == 6 and robot.disconnects == 1
    assert len(report.episodes[0]) == 4  # transition 4 -> 5 ended in the NaN observation: not data
    assert all(np.isfinite(o).all() for o in report.episodes[0].next_obs)


def test_nan_action_sends_the_safe_action_and_stops(bundle: Path) -> None:
    inner = load_policy(load_bundle(bundle))
    calls = [0]

    def broken(obs: np.ndarray) -> np.ndarray:
        calls[0] += 1
        out = inner(obs)
        return out * np.nan if calls[0] == 8 else out

    report, robot = _run(bundle, broken)
    assert report.status == "safety_stop:nonfinite_action" and report.counts["nonfinite_action"] == 1
    np.testing.assert_array_equal(robot.sent[-1], robot.safe_action())
    assert report.stop is not None and report.stop["step"] == 7


def test_frozen_sensor_trips_the_watchdog(bundle: Path) -> None:
    report, robot = _run(bundle, faults=Faults(freeze_obs_at=5), watchdog_s=0.06)
    assert report.status == "safety_stop:stale_observation" and report.counts["stale_observation"] == 1
    stop = report.stop
    assert stop is not None and stop["age_s"] > 0.06 and 7 <= stop["step"] <= 9  # ~3 periods after the freeze
    np.testing.assert_array_equal(robot.sent[-1], robot.safe_action())


def test_latency_spike_is_an_overrun_and_past_the_watchdog_a_stale_stop(bundle: Path) -> None:
    report, _ = _run(bundle, faults=Faults(latency_spike_at=5, latency_spike_s=0.25), watchdog_s=0.06)
    assert report.status == "safety_stop:stale_observation" and report.counts["stale_observation"] == 1
    assert report.stop is not None and report.stop["step"] == 5 and report.stop["age_s"] >= 0.25
    assert report.timing["overruns"] >= 1 and report.timing["loop_ms_max"] >= 250
    # A spike shorter than the watchdog: the loop overruns, skips ticks, and goes on.
    report, _ = _run(bundle, faults=Faults(latency_spike_at=5, latency_spike_s=0.07), watchdog_s=0.2)
    assert report.status == "completed" and report.timing["overruns"] >= 1 and report.timing["skipped_ticks"] >= 3


def test_a_push_that_tips_the_cheetah_triggers_the_predicate_estop(bundle: Path) -> None:
    report, robot = _run(bundle, faults=Faults(push_at=3, push_speed=25.0), max_steps=60)
    assert report.status == "safety_stop:estop_predicate" and report.counts["estop_predicate"] == 1
    assert report.stop is not None and report.stop["predicates"] == ["tipped"]
    ep = report.episodes[0]
    assert abs(ep.next_obs[-1][1]) > math.pi / 2  # the transition into the fall is kept: rooty past 90 degrees
    np.testing.assert_array_equal(robot.sent[-1], robot.safe_action())
    nominal, _ = _run(bundle, max_steps=20)
    assert nominal.counts["estop_predicate"] == 0


def test_out_of_bounds_actions_are_clamped_and_jumps_rate_limited(bundle: Path) -> None:
    signs = iter(np.tile([1.0, -1.0], 100))

    def bang_bang(obs: np.ndarray) -> np.ndarray:
        return np.full(6, 1.7 * next(signs), dtype=np.float32)

    report, robot = _run(bundle, bang_bang, max_steps=10, max_delta=0.25)
    assert report.counts["clamp"] == 10 and report.counts["rate_limit"] == 10
    sent = np.asarray(robot.sent)
    assert np.abs(sent).max() <= 1.0 and np.abs(np.diff(sent, axis=0)).max() <= 0.25 + 1e-6
    assert np.abs(sent[0]).max() == pytest.approx(0.25)  # ramps from the safe action (zero torque)
    np.testing.assert_allclose(report.episodes[0].policy_action[0], 1.7)


def test_reality_gap_latency_noise_drops_and_offsets(bundle: Path) -> None:
    gap = parse_settings(RealityGap, ["obs_latency_s=0.03", "obs_noise_std=0.05", "obs_drop_prob=0.2",
                                      "act_drop_prob=0.2", "friction_scale=0.5", "mass_scale=1.2"])  # fmt: skip
    stand_in = MujocoStandIn("cheetah-run", {"action_repeat": 2}, gap, seed=1)
    assert isinstance(stand_in, Robot)
    with stand_in as robot:
        model, pristine = stand_in.env.unwrapped.mj_model, stand_in.env.pristine  # type: ignore[union-attr]
        np.testing.assert_allclose(model.geom_friction[:, 0], pristine.geom_friction[:, 0] * 0.5)
        np.testing.assert_allclose(model.body_mass[1:], pristine.body_mass[1:] * 1.2)
        ages, applied = [], []
        for t in range(40):
            time.sleep(1 / RATE)
            obs = robot.observe()
            ages.append(time.monotonic() - obs.stamp)
            a = np.full(6, (-1) ** t * 0.5, dtype=np.float32)
            applied.append((a, robot.act(a)))
    stand_in.close()
    assert min(ages[2:]) >= 0.03  # a packet is never younger than the latency
    assert stand_in.counts["obs_packets_dropped"] > 0 and stand_in.counts["act_packets_dropped"] > 0
    held = [(a, got) for a, got in applied if not np.array_equal(a, got)]
    assert len(held) == stand_in.counts["act_packets_dropped"]  # a lost command: the previous one is held
    with pytest.raises(ValueError, match="valid keys: profile, obs_latency_s"):
        parse_settings(RealityGap, ["latency=3"])


def test_the_stand_in_reads_the_gap_profiles_that_training_reads() -> None:
    """One source of reality gaps (issue 31): ``--gap profile=default`` is ``robots.make(gap="default")``."""
    import robots

    stand_in = MujocoStandIn("Hopper-v5", gap=parse_settings(RealityGap, ["profile=default"]))
    stand_in.connect()
    assert stand_in.env is not None
    real = robots.make("Hopper-v5", gap="default").unwrapped.mj_model  # type: ignore[attr-defined]
    model = stand_in.env.unwrapped.mj_model  # type: ignore[attr-defined]
    for name in ("body_mass", "geom_friction", "actuator_gear", "dof_damping"):
        np.testing.assert_array_equal(getattr(model, name), getattr(real, name))
    stand_in.close()
    with pytest.raises(ValueError, match="unknown gap profile 'soft' for Hopper-v5; valid: none, default, hard"):
        MujocoStandIn("Hopper-v5", gap=RealityGap(profile="soft"))


def test_context_manager_disconnects_on_an_exception(bundle: Path) -> None:
    robot = Recorder(MujocoStandIn("cheetah-run", {"action_repeat": 2}))
    with pytest.raises(RuntimeError, match="boom"), robot:
        raise RuntimeError("boom")
    assert robot.connects == robot.disconnects == 1
    robot.inner.close()


def test_sigint_shuts_down_cleanly_and_logs(bundle: Path, tmp_path: Path) -> None:
    log_dir = tmp_path / "log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "synthgate", "deploy", "run", str(bundle), "--backend", "mujoco", "--episodes", "100",
         "--log-dir", str(log_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until the loop runs
        if line.startswith("running"):
            break
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "sigint 1" in out and "SIGINT received: clean shutdown" in out and "status: interrupted" in out
    assert "Traceback" not in err
    assert (log_dir / "meta" / "info.json").is_file() and "real transitions" in out
