"""The sim, stepped from observed states in batches: what ``sim``, ``sim_sysid`` and the corrected
sim (``sim_residual``) predict for a real transition (docs/sim_to_real.md).

For a planar Gymnasium robot the observation determines the physics state except the forward
position ``x`` (``qpos[1:]`` and ``qvel``), and the dynamics do not depend on ``x`` (a flat floor):
so the sim can start from any real observation with ``x = 0``. Hopper-v5 and Walker2d-v5 clip the
observed velocities to [-10, 10]; a velocity beyond that starts the sim from the clipped value (an
error the learned correction sees like any other). One control step is the robot's ``frame_skip``
physics steps under a constant command, as Gymnasium steps it, run by ``mujoco.rollout`` over all
rows at once (its C threads: ``threads``). The reward is the robot's own: forward velocity over
the control step plus the healthy bonus minus the control cost, with Gymnasium's weights; the
healthy check is the registry's termination function.

Robots whose observation does not determine the physics state (the dm_control suite's, Ant's and
Humanoid's contact-force blocks aside, which this module has not been checked on) are refused in
one line.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import mujoco
import numpy as np
from mujoco import rollout

import robots
from robots.perturbations import MODEL_FAMILIES, Perturbation


@dataclass(frozen=True)
class SimSpec:
    """How a robot's observation maps to its physics state, and its reward's weights (Gymnasium v5)."""

    frame_skip: int
    velocity_clip: float
    forward_weight: float
    ctrl_cost_weight: float
    healthy_reward: float


SIM_SPECS: dict[str, SimSpec] = {
    "Hopper-v5": SimSpec(4, 10.0, 1.0, 1e-3, 1.0),
    "Walker2d-v5": SimSpec(4, 10.0, 1.0, 1e-3, 1.0),
}
"""The robots the sim can be stepped from observations for (gymnasium 1.4.0 defaults)."""


class SimStepError(ValueError):
    """The sim cannot be stepped from this robot's observations."""


def check(robot: str) -> SimSpec:
    """The robot's :class:`SimSpec`; a robot without one is refused, saying why."""
    if robot not in SIM_SPECS:
        raise SimStepError(f"{robot}: the sim can only be stepped from observed states for {', '.join(SIM_SPECS)} "
                           "(their observation determines the physics state except the forward position); "
                           f"{robot}'s has not been checked to")  # fmt: skip
    return SIM_SPECS[robot]


def edited(model: mujoco.MjModel, perturbations: Sequence[Perturbation]) -> mujoco.MjModel:
    """A copy of ``model`` with the model edits of ``perturbations`` (fixed or already drawn values)."""
    out = copy.deepcopy(model)
    rng = np.random.default_rng(0)
    for p in perturbations:
        if p.family in MODEL_FAMILIES:
            for name, index, value in MODEL_FAMILIES[p.family](out, p.params, rng):
                getattr(out, name)[index] = value
    return out


class SimStepper:
    """The sim of ``robot`` stepped one control step from a batch of observations.

    Args:
        robot: a robot of :data:`SIM_SPECS`.
        threads: ``mujoco.rollout``'s threads.
    """

    def __init__(self, robot: str, threads: int = 1) -> None:
        self.spec = check(robot)
        self.robot = robot
        env = robots.make(robot)
        self.model: mujoco.MjModel = copy.deepcopy(env.unwrapped.mj_model)  # type: ignore[attr-defined]
        env.close()
        self.termination = robots.get(robot).termination
        self.nq, self.nv = self.model.nq, self.model.nv
        lo, hi = self.model.actuator_ctrlrange.T
        self.low, self.high = lo.astype(np.float64), hi.astype(np.float64)
        self.dt = float(self.model.opt.timestep) * self.spec.frame_skip
        self.datas = [mujoco.MjData(self.model) for _ in range(max(1, threads))]
        full = mujoco.mjtState.mjSTATE_FULLPHYSICS
        self.nstate = mujoco.mj_stateSize(self.model, full)
        self.template = np.empty(self.nstate)
        mujoco.mj_getState(self.model, self.datas[0], self.template, full)

    def ctrl(self, act: np.ndarray) -> np.ndarray:
        """Actions in [-1, 1] as the plant's commands (``robots.envs``' rescaling)."""
        a = np.clip(np.asarray(act, dtype=np.float64), -1.0, 1.0)
        return self.low + (a + 1.0) * 0.5 * (self.high - self.low)

    def states(self, obs: np.ndarray) -> np.ndarray:
        """Full physics states ``[n, nstate]`` for observations ``[n, obs_dim]`` (``x = 0``, time 0)."""
        obs = np.asarray(obs, dtype=np.float64)
        out = np.tile(self.template, (obs.shape[0], 1))
        out[:, 0] = 0.0
        out[:, 1] = 0.0  # x
        out[:, 2 : 1 + self.nq] = obs[:, : self.nq - 1]
        out[:, 1 + self.nq : 1 + self.nq + self.nv] = obs[:, self.nq - 1 : self.nq - 1 + self.nv]
        return out

    def step(
        self, obs: np.ndarray, act: np.ndarray, models: Sequence[mujoco.MjModel] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One control step of the sim from each row.

        Args:
            obs: ``[n, obs_dim]`` observed states.
            act: ``[n, act_dim]`` actions in [-1, 1].
            models: one model per row (a scenario's physics: :func:`edited`), all of this robot;
                None: the nominal sim.

        Returns:
            ``(next_obs [n, obs_dim] float32, reward [n], terminated [n] bool)``.
        """
        ctrl = self.ctrl(act)
        control = np.repeat(ctrl[:, None, :], self.spec.frame_skip, axis=1)
        model: mujoco.MjModel | list[mujoco.MjModel] = self.model if models is None else list(models)
        state, _ = rollout.rollout(model, self.datas, self.states(obs), control)
        last = state[:, -1, :]
        qpos, qvel = last[:, 1 : 1 + self.nq], last[:, 1 + self.nq : 1 + self.nq + self.nv]
        next_obs = np.concatenate([qpos[:, 1:], np.clip(qvel, -self.spec.velocity_clip, self.spec.velocity_clip)],
                                  axis=1).astype(np.float32)  # fmt: skip
        terminated = np.asarray(self.termination(next_obs), dtype=bool)
        forward = self.spec.forward_weight * qpos[:, 0] / self.dt
        reward = forward + self.spec.healthy_reward * ~terminated - self.spec.ctrl_cost_weight * (ctrl**2).sum(1)
        return next_obs, reward.astype(np.float64), terminated


class PlantStepper(SimStepper):
    """The real plant of a gap profile stepped one control step from a batch of observations: what
    the plant itself would do from each observed state (the ``oracle`` source; studies only, since a
    user's real plant cannot be reset to a chosen state).

    The gap's model fields edit the sim's model (so scenario edits start from the real plant's
    model, as on the plant); its unmodeled terms run before every physics step through the same
    substep function the plant uses (``robots.gaps.substep_hook``); action noise perturbs each
    command and sensing noise or bias each observed next state, from ``seed``'s stream. Rows are
    stepped one at a time in Python (the substep hook rules out ``mujoco.rollout``), so it is
    slower than the sim: about 10,000 rows per second on this machine's cores.

    Args:
        robot: a robot of :data:`SIM_SPECS`.
        profile: the real plant's gap profile (``robots.gaps.GapProfile``) or its name or path.
        seed: seed of the sensing and actuation noise.
    """

    def __init__(self, robot: str, profile: object, seed: int = 0) -> None:
        from robots import gaps

        super().__init__(robot, 1)
        self.profile = profile if isinstance(profile, gaps.GapProfile) else gaps.get(str(profile), robot)
        if self.profile.robot != robot:
            raise ValueError(f"gap profile {self.profile.tag} is a profile of {self.profile.robot}, not of {robot}")
        gaps.apply_model_fields(self.model, self.profile)
        self.hook = gaps.substep_hook(self.model, self.profile.unmodeled) if self.profile.unmodeled else None
        env = robots.make(robot)
        layout = env.unwrapped.layout  # type: ignore[attr-defined]
        env.close()
        self.sensing: list[tuple[str, np.ndarray, float]] = []
        self.action_noise = 0.0
        for p in self.profile.parametric:
            if p.family == "action_noise":
                self.action_noise = float(p.params["std"])  # type: ignore[arg-type]
            elif p.family in ("obs_noise", "obs_bias"):
                cols = np.concatenate([np.arange(layout.slice(str(f)).start, layout.slice(str(f)).stop)
                                       for f in p.params.get("fields", ())])  # type: ignore[union-attr]  # fmt: skip
                value = p.params["std"] if p.family == "obs_noise" else p.params["bias"]
                self.sensing.append((p.family, cols, float(value)))  # type: ignore[arg-type]
        self.rng = np.random.default_rng(seed)
        self._data: dict[int, tuple[mujoco.MjModel, mujoco.MjData]] = {}

    def data(self, model: mujoco.MjModel) -> mujoco.MjData:
        """One ``MjData`` per model stepped (kept, with the model, while calls keep using it)."""
        if id(model) not in self._data:
            self._data[id(model)] = (model, mujoco.MjData(model))
        return self._data[id(model)][1]

    def step(
        self, obs: np.ndarray, act: np.ndarray, models: Sequence[mujoco.MjModel] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One control step of the real plant from each row (as :meth:`SimStepper.step`)."""
        a = np.asarray(act, dtype=np.float64)
        if self.action_noise:
            a = np.clip(a + self.rng.normal(0.0, self.action_noise, a.shape), -1.0, 1.0)
        ctrl = self.ctrl(a)
        obs = np.asarray(obs, dtype=np.float64)
        n, nq, nv = obs.shape[0], self.nq, self.nv
        qpos, qvel = np.empty((n, nq)), np.empty((n, nv))
        used = {id(m) for m in models} if models is not None else {id(self.model)}
        for key in [k for k in self._data if k not in used]:  # a phase's scenario models are not kept past it
            del self._data[key]
        for i in range(n):
            m = self.model if models is None else models[i]
            d = self.data(m)
            mujoco.mj_resetData(m, d)
            d.qpos[1:] = obs[i, : nq - 1]
            d.qvel[:] = obs[i, nq - 1 : nq - 1 + nv]
            for _ in range(self.spec.frame_skip):
                if self.hook is not None:
                    self.hook(m, d, ctrl[i])
                else:
                    d.ctrl[:] = ctrl[i]
                mujoco.mj_step(m, d)
            qpos[i], qvel[i] = d.qpos, d.qvel
        true = np.concatenate([qpos[:, 1:], np.clip(qvel, -self.spec.velocity_clip, self.spec.velocity_clip)], axis=1)
        terminated = np.asarray(self.termination(true.astype(np.float32)), dtype=bool)
        sensed = true.copy()
        for family, cols, value in self.sensing:
            sensed[:, cols] += self.rng.normal(0.0, value, (n, cols.size)) if family == "obs_noise" else value
        forward = self.spec.forward_weight * qpos[:, 0] / self.dt
        reward = forward + self.spec.healthy_reward * ~terminated - self.spec.ctrl_cost_weight * (ctrl**2).sum(1)
        return sensed.astype(np.float32), reward.astype(np.float64), terminated
