"""The sim (optionally with a learned correction) as a batched environment for
:func:`pipeline.model_env.rollout`, so the sim-stepping sources roll out as the world model does.

The rollout's context column 0 is each row's index into the physics in use (:meth:`SimEnv.use`:
one MuJoCo model per drawn scenario parameter set, the base sim edited); no context: the base sim
(nominal, or the system-identified one). A step that is not finite or falls outside the real
states' range (widened by ``drop_range_factor``, as for the world model) is dropped and counted.
The sim has no ensemble: its disagreement is 0; the corrected sim reports its correction
ensemble's.
"""

from __future__ import annotations

import copy
from typing import Any

import mujoco
import numpy as np
import torch

import robots
from pipeline.model_env import StepResult
from robots.perturbations import Perturbation
from robots.sim_step import SimStepper, edited


class SimEnv:
    """Steps many observed states at once through the sim of ``robot``.

    Args:
        robot: a robot :mod:`robots.sim_step` can step from observations.
        drop_range_factor: how far outside the real states' range a step may land before it is dropped.
        threads: ``mujoco.rollout``'s threads.
    """

    def __init__(self, robot: str, drop_range_factor: float, threads: int = 1) -> None:
        self.stepper = SimStepper(robot, threads)
        self.termination = robots.get(robot).termination
        self.factor = drop_range_factor
        self.base: mujoco.MjModel = self.stepper.model
        self.models: list[mujoco.MjModel] = []
        self.low: np.ndarray | None = None
        self.high: np.ndarray | None = None
        self.correction: Any = None
        """A :class:`pipeline.sim_residual.SimResidual` whose correction is added to each step, or None."""

    def set_range(self, real_obs: torch.Tensor) -> None:
        """The real states' per-column range, for the out-of-range drop."""
        obs = real_obs.cpu().numpy()
        self.low, self.high = obs.min(0), obs.max(0)

    def set_base(self, model: mujoco.MjModel) -> None:
        """The sim every step starts from (the system-identified sim's fitted model)."""
        self.base = copy.deepcopy(model)

    def use(self, active: list[list[dict[str, Any]]]) -> np.ndarray:
        """Builds one model per parameter draw (each a list of ``{"family", <param>: value}``, as the
        targeted generator draws them or a perturbed plant reports them, whose ``t`` is ignored) on the
        base sim; returns the index of each draw (the value rows carry in context column 0)."""

        def perturbation(d: dict[str, Any]) -> Perturbation:
            return Perturbation(d["family"], {k: v for k, v in d.items() if k not in ("family", "t")})

        self.models = [edited(self.base, [perturbation(d) for d in draw]) for draw in active]
        return np.arange(len(self.models))

    def step(
        self, obs: torch.Tensor, act: torch.Tensor, generator: torch.Generator, ctx: torch.Tensor | None = None,
        **ignored: Any,
    ) -> StepResult:  # fmt: skip
        """One sim step of every row (``ctx[:, 0]``: the index of the row's physics; None: the base sim)."""
        o, u = obs.detach().cpu().numpy(), act.detach().cpu().numpy()
        models = [self.models[int(i)] for i in ctx[:, 0].tolist()] if ctx is not None else [self.base] * len(o)
        if self.correction is not None:
            nxt, rew, dis = self.correction.step(o, u, models)
        else:
            nxt, rew, _ = self.stepper.step(o, u, models)
            dis = np.zeros(len(o), dtype=np.float32)
        finite = np.isfinite(nxt).all(1) & np.isfinite(rew)
        in_range = np.ones(len(o), dtype=bool)
        if self.low is not None and self.high is not None:
            span = (self.high - self.low) * self.factor
            in_range = ((nxt >= self.low - span) & (nxt <= self.high + span)).all(1)
        valid = finite & in_range
        terminated = np.asarray(self.termination(torch.as_tensor(nxt)), dtype=bool)
        device = obs.device
        as_t = lambda x, dtype=None: torch.as_tensor(x, dtype=dtype, device=device)  # noqa: E731
        return StepResult(
            next_obs=as_t(np.nan_to_num(nxt).astype(np.float32)),
            reward=as_t(np.nan_to_num(rew).astype(np.float32)),
            terminated=as_t(terminated & valid),
            valid=as_t(valid),
            nonfinite=as_t(~finite),
            out_of_range=as_t(finite & ~in_range),
            disagreement=as_t(np.asarray(dis, dtype=np.float32)),
        )

    def state_dict(self) -> dict[str, Any]:
        """The real range (the base model is rebuilt by its owner; the scenario models per phase)."""
        return {"low": self.low, "high": self.high}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.low, self.high = saved["low"], saved["high"]
