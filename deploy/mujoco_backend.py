"""A MuJoCo hardware stand-in: the robot's plant behind the robot interface, with a reality gap.

The plant is the registry's own (``robots.make`` with the bundle's robot settings); the gap between
it and the training plant is configurable (:class:`RealityGap`):

* a gap profile (``profile=<name|path>``: ``robots.gaps``, the same profiles ``gap=`` names for
  training and validation, ``synthgate gaps`` lists them): the real plant's parameters and its
  unmodeled effects;
* parameter offsets on top of it (friction, body masses, actuator strength) and observation noise, applied by
  the perturbation engine (:mod:`robots.perturbations`) on every connect;
* action latency (k control steps, the perturbation engine's ``action_latency``);
* observation latency: a packet measured at time s is delivered no earlier than s + latency;
* dropped packets: a lost observation packet means the last delivered one is read again (it grows
  old); a lost command packet means the plant holds its previous command, and ``act`` returns that.

Faults are injected on purpose (:class:`Faults`) to exercise the runtime's safety layer: a NaN
observation, a sensor that freezes, a latency spike, and a push (a velocity impulse on a body)
strong enough to make the robot fall.

Timing: ``act`` steps the plant by one control step at once; the sensor samples the plant's
current state when ``observe`` is called (one sample per control step), and the packet is stamped
with that time. Without latency, faults or drops a packet is fresh (age ~0) however late the loop
is; the watchdog then measures the sensor path only, and the loop's own lateness is what the
runtime's timing (overruns) measures.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

import robots
from deploy.robot import ContextRobot, Observation
from robots import gaps
from robots.perturbations import Perturbation, PerturbedEnv, Trigger, actuator_names, body_names


@dataclass(frozen=True)
class RealityGap:
    """How the stand-in differs from the training plant (defaults: no gap)."""

    profile: str = "none"
    """A gap profile of the robot, by name or path (``robots.gaps``; ``synthgate gaps <robot>``)."""
    obs_latency_s: float = 0.0
    """An observation packet is delivered this many seconds after it was measured."""
    obs_noise_std: float = 0.0
    """Gaussian noise added to every observed column."""
    obs_drop_prob: float = 0.0
    """Probability that an observation packet is lost (the previous one is read again)."""
    act_drop_prob: float = 0.0
    """Probability that a command packet is lost (the plant holds its previous command)."""
    action_latency_steps: int = 0
    """Commands reach the actuators this many control steps late."""
    friction_scale: float = 1.0
    """Scale of every geom's sliding friction."""
    mass_scale: float = 1.0
    """Scale of every body's mass and inertia."""
    actuator_scale: float = 1.0
    """Scale of every actuator's gear (strength)."""

    def __post_init__(self) -> None:
        for name in ("obs_drop_prob", "act_drop_prob"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"reality gap {name}={getattr(self, name)!r}: must be in [0, 1)")
        for name in ("obs_latency_s", "obs_noise_std", "action_latency_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"reality gap {name}={getattr(self, name)!r}: must be >= 0")
        for name in ("friction_scale", "mass_scale", "actuator_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"reality gap {name}={getattr(self, name)!r}: must be > 0")


@dataclass(frozen=True)
class Faults:
    """Faults injected on purpose; a step index is the control step of the episode (0 = first)."""

    nan_obs_at: int = -1
    """The observation read at this step holds NaN (-1: never)."""
    freeze_obs_at: int = -1
    """From this step on, the sensor delivers no new packet (-1: never)."""
    latency_spike_at: int = -1
    """At this step, ``observe`` blocks ``latency_spike_s`` and returns the packet it had before (-1: never)."""
    latency_spike_s: float = 0.25
    """Length of the latency spike, seconds."""
    push_at: int = -1
    """At this step, a velocity impulse hits ``push_body`` (-1: never)."""
    push_body: str = "torso"
    """Body that is pushed."""
    push_speed: float = 25.0
    """Size of the impulse (m/s, added to the body's root linear velocity along ``push_direction``, mapped
    onto the root's slide joints by axis: ``robots.perturbations.root_velocity_change``)."""
    push_direction: tuple[float, float, float] = (1.0, 0.0, 0.0)
    """Direction of the push in the world frame (x forward, z up): a horizontal push of 25 m/s tips the cheetah."""


def parse_settings(cls: Any, items: list[str]) -> Any:
    """Builds a :class:`RealityGap` or :class:`Faults` from ``key=value`` strings.

    Raises:
        ValueError: an unknown key (the message lists the valid ones) or a value of the wrong type.
    """
    types = {f.name: f.type for f in fields(cls)}
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or key not in types:
            raise ValueError(f"{cls.__name__}: {item!r} is not key=value with a valid key; valid keys: "
                             f"{', '.join(types)}")  # fmt: skip
        kind = str(types[key])
        try:
            if "tuple" in kind:
                values[key] = tuple(float(v) for v in raw.split(","))
            elif kind == "int":
                values[key] = int(raw)
            elif kind == "float":
                values[key] = float(raw)
            else:
                values[key] = raw
        except ValueError:
            raise ValueError(f"{cls.__name__}: {key}={raw!r} is not a valid {kind}") from None
    return cls(**values)


def zero_command(ctrlrange: np.ndarray) -> np.ndarray:
    """The normalized action that commands zero to each actuator whose range contains zero (else its middle).

    Actions in [-1, 1] map to ``low + (a + 1) (high - low) / 2``, so zero is ``a = -(low + high) / (high - low)``.
    """
    lo, hi = np.asarray(ctrlrange, dtype=np.float64).T
    zero = np.where((lo <= 0) & (hi >= 0), -(lo + hi) / np.maximum(hi - lo, 1e-12), 0.0)
    return np.clip(zero, -1.0, 1.0).astype(np.float32)


class MujocoStandIn(ContextRobot):
    """The bundle's robot as a simulated plant behind the robot interface.

    Args:
        robot: registry name (the bundle's robot).
        settings: the bundle's robot settings (``max_episode_steps``, ``action_repeat``...).
        gap: the reality gap.
        faults: faults to inject.
        seed: episode ``i`` (the ``i``-th connect) resets the plant with ``seed + i``.
    """

    def __init__(
        self,
        robot: str,
        settings: dict[str, Any] | None = None,
        gap: RealityGap | None = None,
        faults: Faults | None = None,
        seed: int = 0,
    ) -> None:
        self.name = robot
        self.record = robots.get(robot)
        self.settings = dict(settings or {})
        self.gap = gap or RealityGap()
        self.profile = gaps.get(self.gap.profile, robot)  # a bad profile is refused here, before any episode
        self.faults = faults or Faults()
        self.seed = seed
        self.episode = -1
        self.env: PerturbedEnv | None = None
        self.rng = np.random.default_rng(seed)
        self.t = 0
        self.counts = {"obs_packets_dropped": 0, "act_packets_dropped": 0}
        self._queue: deque[Observation] = deque()
        self._delivered: Observation | None = None
        self._held = np.zeros(self.record.action_dim, dtype=np.float32)
        self._plant = Observation(np.zeros(self.record.layout.size, dtype=np.float32), 0.0)

    # --- the reality gap as perturbations --------------------------------------------------

    def _perturbations(self, env: Any) -> list[Perturbation]:
        g, f = self.gap, self.faults
        model = env.unwrapped.mj_model
        out: list[Perturbation] = []
        if g.friction_scale != 1.0:
            out.append(Perturbation("friction_scale", {"scale": g.friction_scale}))
        if g.mass_scale != 1.0:
            out += [Perturbation("mass_scale", {"body": b, "scale": g.mass_scale}) for b in body_names(model)[1:]]
        if g.actuator_scale != 1.0:
            out += [Perturbation("actuator_scale", {"actuator": a, "scale": g.actuator_scale})
                    for a in actuator_names(model)]  # fmt: skip
        if g.obs_noise_std > 0:
            layout_fields = tuple(fl.name for fl in self.record.layout.fields)
            out.append(Perturbation("obs_noise", {"std": g.obs_noise_std, "fields": layout_fields}))  # type: ignore[dict-item]
        if g.action_latency_steps:
            out.append(Perturbation("action_latency", {"steps": g.action_latency_steps}))
        if f.push_at >= 0:
            out.append(Perturbation("push", {"body": f.push_body, "force": f.push_speed,
                                             "direction": f.push_direction, "mode": "velocity"},  # type: ignore[dict-item]
                                    Trigger("at_step", step=f.push_at)))  # fmt: skip
        return out

    @property
    def control_timestep(self) -> float:
        """Seconds of plant time per ``act``."""
        env = self.env or robots.make(self.name, **self.settings)
        dt = float(env.unwrapped.control_timestep)  # type: ignore[attr-defined]
        if self.env is None:
            env.close()
        return dt

    # --- the protocol --------------------------------------------------------------------------

    def connect(self) -> None:
        """Builds the plant (once), applies the gap and resets it with the next episode's seed."""
        if self.env is None:
            base = robots.make(self.name, gap=self.profile, **self.settings)
            self.env = PerturbedEnv(base, self._perturbations(base), seed=self.seed)
        self.episode += 1
        state, _ = self.env.reset(seed=self.seed + self.episode)
        self.t = 0
        self._held = self.safe_action()
        self._queue.clear()
        self._delivered = None
        self._plant = Observation(np.asarray(state, dtype=np.float32), time.monotonic())

    def _measure(self) -> None:
        """The sensor samples the plant now; the packet may be lost (dropped) or never sent (frozen)."""
        if 0 <= self.faults.freeze_obs_at <= self.t:
            return
        if self.gap.obs_drop_prob and self.rng.random() < self.gap.obs_drop_prob:
            self.counts["obs_packets_dropped"] += 1
            return
        p = self._plant
        self._queue.append(Observation(p.state, time.monotonic(), p.reward, p.terminated, p.truncated))

    def observe(self) -> Observation:
        """Samples the sensor and returns the newest packet whose latency has elapsed.

        With no packet due, the last one delivered is returned again (older); before any has been
        delivered, the first one is (early: a robot would have waited for it).
        """
        self._measure()
        if self.t == self.faults.latency_spike_at:
            time.sleep(self.faults.latency_spike_s)  # the packet just measured arrives this late
        now = time.monotonic()
        while self._queue and self._queue[0].stamp + self.gap.obs_latency_s <= now:
            self._delivered = self._queue.popleft()
        if self._delivered is None:
            if not self._queue:
                raise RuntimeError("the sensor is frozen from the first step: no observation was ever measured")
            self._delivered = self._queue.popleft()
        packet = self._delivered
        if self.t == self.faults.nan_obs_at:
            state = packet.state.copy()
            state[0] = np.nan
            return Observation(state, packet.stamp, packet.reward, packet.terminated, packet.truncated)
        return packet

    def act(self, action: np.ndarray) -> np.ndarray:
        """Steps the plant one control step; returns the command it applied (held on a lost packet)."""
        if self.env is None:
            raise RuntimeError("MujocoStandIn.act before connect()")
        sent = np.clip(np.asarray(action, dtype=np.float32), -1.0, 1.0)
        if self.gap.act_drop_prob and self.rng.random() < self.gap.act_drop_prob:
            self.counts["act_packets_dropped"] += 1
        else:
            self._held = sent
        state, reward, terminated, truncated, _ = self.env.step(self._held)
        self.t += 1
        self._plant = Observation(np.asarray(state, dtype=np.float32), time.monotonic(), float(reward),
                                  bool(terminated), bool(truncated))  # fmt: skip
        return self._held.copy()

    def safe_action(self) -> np.ndarray:
        """Zero actuator command (zero torque for the registry's torque-driven robots), normalized."""
        env: Any = self.env.unwrapped if self.env is not None else None
        if env is None:
            return np.zeros(self.record.action_dim, dtype=np.float32)
        return zero_command(env.mj_model.actuator_ctrlrange)

    def disconnect(self) -> None:
        """Ends the episode; the plant is kept for the next connect (``close`` releases it)."""
        self._queue.clear()

    def close(self) -> None:
        """Releases the plant."""
        if self.env is not None:
            self.env.close()
            self.env = None
