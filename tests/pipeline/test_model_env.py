"""Model as environment: termination from the robot, dropped predictions, rollout bookkeeping."""

from __future__ import annotations

import torch
from helpers import hyper

import robots
from pipeline.model_env import ModelEnv, rollout
from pipeline.sac import make_sac
from pipeline.world_model import EnsembleDynamics


class ScriptedDynamics(EnsembleDynamics):
    """The real ensemble class with its network replaced by a known rule (a test double for the
    network only; sampling, elite choice, decoding, dropping and termination are the real code).

    Every member predicts next state ``obs + shift`` with a tiny variance and reward 1, except rows
    whose first column is negative, which get NaN."""

    def __init__(self, obs_dim: int, act_dim: int, shift: torch.Tensor) -> None:
        super().__init__(obs_dim, act_dim, hyper(hidden=4, depth=1, weight_decay=(0.0, 0.0), target_norm="joint"))
        self.shift = shift

    def raw(
        self,
        obs: torch.Tensor,
        act: torch.Tensor,
        ctx: torch.Tensor | None = None,
        members: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        nxt = obs + self.shift
        nxt = torch.where(obs[:, :1] < 0, torch.full_like(nxt, torch.nan), nxt)
        count = self.hp.members if members is None else members.shape[0]
        mean = torch.cat([torch.ones(obs.shape[0], 1), nxt], -1).expand(count, -1, -1)
        return mean, torch.full_like(mean, -30.0)


def _actor(obs_dim: int, act_dim: int):  # type: ignore[no-untyped-def]
    return make_sac(obs_dim, act_dim, hidden=8, depth=1, lr_actor=1e-3, lr_critic=1e-3, lr_alpha=1e-3,
                    init_alpha=0.1, log_std_min=-5, log_std_max=2, device=torch.device("cpu"),
                    generator=torch.Generator().manual_seed(0)).actor  # fmt: skip


def test_termination_is_the_robots_and_bad_predictions_are_dropped() -> None:
    hopper = robots.get("Hopper-v5")  # terminates when rootz <= 0.7 or |rooty| >= 0.2
    obs = torch.zeros(4, 11)
    obs[:, 0] = torch.tensor([1.2, 0.75, -1.0, 1.2])  # row 2 -> NaN prediction
    obs[3, 5] = 50.0  # row 3 -> far outside the real range
    model = ScriptedDynamics(11, 3, shift=torch.tensor([-0.1] + [0.0] * 10))
    model.obs_low.fill_(-2.0)
    model.obs_high.fill_(2.0)
    env = ModelEnv(model, hopper.termination, drop_range_factor=1.0)  # range [-2, 2] +- 4 -> [-6, 6]
    res = env.step(obs, torch.zeros(4, 3), torch.Generator().manual_seed(0))
    assert res.valid.tolist() == [True, True, False, False]
    assert res.nonfinite.tolist() == [False, False, True, False]
    assert res.out_of_range.tolist() == [False, False, False, True]
    # row 0: rootz 1.1 healthy; row 1: rootz 0.65 -> terminated; invalid rows never count as terminated
    assert res.terminated.tolist() == [False, True, False, False]


def test_rollout_stops_rows_at_termination_and_counts_everything() -> None:
    walker = robots.get("Walker2d-v5")  # healthy while 0.8 < rootz < 2.0 and |rooty| < 1
    starts = torch.zeros(3, 17)
    starts[:, 0] = torch.tensor([1.5, 1.05, -1.0])  # row 2: NaN at once
    model = ScriptedDynamics(17, 6, shift=torch.tensor([-0.1] + [0.0] * 16))
    model.obs_low.fill_(-5.0)
    model.obs_high.fill_(5.0)
    env = ModelEnv(model, walker.termination, drop_range_factor=1.0)
    out = rollout(env, _actor(17, 6), starts, 5, torch.Generator().manual_seed(0))
    # row 0: 1.4 1.3 1.2 1.1 1.0 -> 5 kept; row 1: 0.95 0.85 0.75 (terminated at step 3) -> 3 kept
    assert out.counts == {"starts": 3, "kept": 8, "dropped_nonfinite": 1, "dropped_out_of_range": 0, "terminated": 1}
    assert sorted(out.rollout_step.tolist()) == [1, 1, 2, 2, 3, 3, 4, 5]
    assert out.terminated.sum().item() == 1
    assert torch.isfinite(out.next_obs).all()
    torch.testing.assert_close(out.rew, torch.ones(8))
