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
