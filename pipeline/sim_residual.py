"""The corrected sim (world-model preset ``sim_residual``) and the system-identified sim
(``sim_sysid``): two ways to make the sim predict the real plant from real transitions
(docs/sim_to_real.md).

``SimResidual``'s next state is the sim's step from the same state and action
(:class:`robots.sim_step.SimStepper`, under the same perturbations when a scenario's physics is
given) plus a correction learned by the project's ensemble (:class:`pipeline.world_model.EnsembleDynamics`),
so FTFL's switches are switches on it:

* ``target=residual``: the network predicts the **correction** (real next state minus the sim's,
  real reward minus the sim's); a zero correction is the sim, bit for bit;
* ``target=direct``: the network predicts the real next state and reward themselves, with the
  sim's prediction as an input;
* ``target_norm`` (independent or joint) and the likelihood (Gaussian NLL or β-NLL) as for any
  world model.

The network reads ``[sim next state, state, action, sim reward]``: the ensemble's "state" input is
the sim's next state (so its residual target is the correction) and its "action" input the rest.

``fit_sysid`` fits the gap profile's parametric fields (scales of the torso's mass, floor friction,
actuator strength, joint damping and armature) to real transitions by one-step prediction error
with scipy's Powell method. It cannot see the unmodeled effects (a deadband, a torque-speed limit):
that is what the comparison with ``SimResidual`` is for.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import mujoco
import numpy as np
import torch
from scipy import optimize

import robots
from pipeline.world_model import EnsembleDynamics, FitReport, ModelHyper, fit, make_optimizer
from robots.perturbations import Perturbation
from robots.sim_step import SimStepper, edited


class SimResidual:
    """The sim of ``robot`` plus a learned correction toward the real plant.

    Args:
        robot: a robot the sim can be stepped from observations for (``robots.sim_step``).
        hp: the correction ensemble's settings (``target``: residual or direct).
        threads: ``mujoco.rollout``'s threads.
    """

    def __init__(self, robot: str, hp: ModelHyper, threads: int = 1) -> None:
        self.stepper = SimStepper(robot, threads)
        record = robots.get(robot)
        self.obs_dim, self.act_dim = record.layout.size, record.action_dim
        self.hp = hp
        self.net = EnsembleDynamics(self.obs_dim, self.obs_dim + self.act_dim + 1, hp)
        self.optimizer = make_optimizer(self.net)
        self.version = ""
        """The correction's version after its last fit ("" before the first)."""

    def _inputs(self, obs: np.ndarray, act: np.ndarray, models: Sequence[mujoco.MjModel] | None = None) -> tuple[
        torch.Tensor, torch.Tensor, torch.Tensor
    ]:  # fmt: skip
        """The sim's step (next state, reward) and the network's two inputs."""
        sim_next, sim_rew, _ = self.stepper.step(obs, act, models)
        state = torch.as_tensor(sim_next)
        rest = torch.as_tensor(np.concatenate([obs, act, sim_rew[:, None]], axis=1), dtype=torch.float32)
        return state, rest, torch.as_tensor(sim_rew, dtype=torch.float32)

    def fit(
        self,
        obs: np.ndarray,
        act: np.ndarray,
        rew: np.ndarray,
        next_obs: np.ndarray,
        generator: torch.Generator,
        models: Sequence[mujoco.MjModel] | None = None,
    ) -> FitReport:
        """Fits the correction (warm start) on real transitions; ``models``: each row's sim physics
        (a scenario's, for rows from episodes under one), None: nominal."""
        state, rest, sim_rew = self._inputs(obs, act, models)
        target_rew = torch.as_tensor(rew, dtype=torch.float32)
        if self.hp.target == "residual":
            target_rew = target_rew - sim_rew
        report = fit(self.net, self.optimizer, state, rest, target_rew, torch.as_tensor(next_obs), generator)
        self.version = report.version
        return report

    def predict(
        self, obs: np.ndarray, act: np.ndarray, models: Sequence[mujoco.MjModel] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The corrected sim's mean prediction (over the elites): ``(next_obs, reward)``.

        Under ``target=residual`` the elites' mean correction is added to the sim's step, so a zero
        correction returns the sim's step exactly.
        """
        nxt, rew, _ = self.step(obs, act, models)
        return nxt, rew

    def step(
        self, obs: np.ndarray, act: np.ndarray, models: Sequence[mujoco.MjModel] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`predict` and each row's disagreement: the elites' next-state std, averaged over columns."""
        state, rest, sim_rew = self._inputs(obs, act, models)
        with torch.no_grad():
            mean, _ = self.net.raw(state, rest, members=self.net.elite_idx)
            each = self.net.targets.inverse(mean)
            out = each.mean(0)
            disagreement = each[:, :, 1:].std(0, unbiased=False).mean(-1) if each.shape[0] > 1 else out[:, 0] * 0
        if self.hp.target == "residual":
            return (state + out[:, 1:]).numpy(), (sim_rew + out[:, 0]).numpy(), disagreement.numpy()
        return out[:, 1:].numpy(), out[:, 0].numpy(), disagreement.numpy()

    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(), "version": self.version}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        from pipeline import checkpoint

        self.net.load_state_dict(saved["net"])
        checkpoint.load_optimizer(self.optimizer, saved["optimizer"])
        self.version = saved["version"]


# --- the system-identified sim ------------------------------------------------------------------

SYSID_FIELDS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("mass_scale", {"body": "torso"}),
    ("friction_scale", {}),
    ("actuator_scale", {"actuator": "*"}),
    ("damping_scale", {"joint": "all"}),
    ("armature_scale", {"joint": "all"}),
)
"""The parametric fields ``fit_sysid`` identifies, each a scale (``actuator: *``: one scale for every actuator)."""


@cache
def _actuators(robot: str) -> tuple[str, ...]:
    from robots.perturbations import actuator_names

    env = robots.make(robot)
    names = tuple(actuator_names(env.unwrapped.mj_model))  # type: ignore[attr-defined]
    env.close()
    return names


def sysid_perturbations(robot: str, scales: Sequence[float]) -> list[Perturbation]:
    """The perturbations that set :data:`SYSID_FIELDS` to ``scales`` on ``robot``."""
    names = _actuators(robot)  # read once: the fit calls this at every evaluation
    out = []
    for (family, params), scale in zip(SYSID_FIELDS, scales, strict=True):
        if params.get("actuator") == "*":
            out += [Perturbation(family, {"actuator": a, "scale": float(scale)}) for a in names]
        else:
            out.append(Perturbation(family, {**params, "scale": float(scale)}))
    return out


@dataclass(frozen=True)
class Sysid:
    """A fitted sim: its scales (by field), the one-step error before and after, and the cost."""

    scales: dict[str, float]
    model: mujoco.MjModel
    error_before: float
    error_after: float
    evaluations: int
    seconds: float


def sysid_model(robot: str, scales: Sequence[float]) -> mujoco.MjModel:
    """The sim of ``robot`` with :data:`SYSID_FIELDS` set to ``scales``."""
    return edited(SimStepper(robot).model, sysid_perturbations(robot, scales))


def fit_sysid(
    robot: str,
    obs: np.ndarray,
    act: np.ndarray,
    next_obs: np.ndarray,
    max_evals: int = 300,
    rows: int = 2000,
    initial: Sequence[float] | None = None,
) -> Sysid:
    """Fits :data:`SYSID_FIELDS`'s scales (in log space, within [1/3, 3]) to minimize the sim's
    one-step squared error, each state dimension divided by its standard deviation in ``next_obs``,
    on at most ``rows`` transitions (an even subsample), with ``scipy.optimize.minimize(method="Powell")``
    from ``initial`` (scales; None: all 1)."""
    pick = np.linspace(0, obs.shape[0] - 1, min(rows, obs.shape[0])).astype(int)
    o, a, n = obs[pick], act[pick], next_obs[pick]
    scale = next_obs.std(0) + 1e-6
    stepper = SimStepper(robot)
    calls = [0]

    def error(log_scales: np.ndarray) -> float:
        calls[0] += 1
        model = edited(stepper.model, sysid_perturbations(robot, np.exp(log_scales)))
        pred, _, _ = stepper.step(o, a, [model] * len(o))
        return float(np.mean(((pred - n) / scale) ** 2))

    start = time.perf_counter()
    bound = np.log(3.0)
    x0 = np.clip(np.log(np.asarray(initial, dtype=float)), -bound, bound) if initial else np.zeros(len(SYSID_FIELDS))
    before = error(x0)
    res = optimize.minimize(error, x0, method="Powell", bounds=[(-bound, bound)] * len(x0),
                            options={"maxfev": max_evals, "xtol": 1e-3, "ftol": 1e-4})  # fmt: skip
    scales = np.exp(res.x)
    model = edited(stepper.model, sysid_perturbations(robot, scales))
    return Sysid({f: float(s) for (f, _), s in zip(SYSID_FIELDS, scales, strict=True)}, model, before,
                 float(res.fun), calls[0], time.perf_counter() - start)  # fmt: skip
