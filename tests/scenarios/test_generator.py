"""Targeted generator: hand-checked proximity weights and disagreement drops, each scenario's
perturbation applied (context draws, push impulse), refusals named."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import hyper

import robots
import scenarios
from pipeline.buffer import ReplayBuffer, Source
from pipeline.model_env import Rollout
from pipeline.sac import Actor, make_sac
from pipeline.targeting import split_starts
from pipeline.world_model import EnsembleDynamics, fit, make_optimizer
from robots.context import push_velocity_change
from scenarios.generator import TargetedGenerator, drop_disagreeing, proximity_weights

ROBOT = "walker-walk"


def _generator(names: list[str], **kw: float) -> TargetedGenerator:
    args = {"proximity": 0.5, "disagreement": 3.0, "drop_range_factor": 1.0, **kw}
    return TargetedGenerator([scenarios.get(n) for n in names], ROBOT, **args)  # type: ignore[arg-type]


def _hand_rollout() -> Rollout:
    # start 0: 3 steps, disagreement 0.1 0.2 0.3; start 1: 2 steps, 0.1 0.9; start 2: 1 step, 0.5
    start = torch.tensor([0, 1, 2, 0, 1, 0])
    dis = torch.tensor([0.1, 0.1, 0.5, 0.2, 0.9, 0.3])
    n = start.shape[0]
    return Rollout(torch.arange(n, dtype=torch.float32).unsqueeze(1), torch.zeros(n, 1), torch.zeros(n),
                   torch.zeros(n, 1), torch.zeros(n, dtype=torch.bool), torch.tensor([1, 1, 1, 2, 2, 3]).short(),
                   {}, 0.0, start, dis, torch.zeros(n, 2))  # fmt: skip


def test_disagreement_threshold_drops_whole_rollouts_by_hand() -> None:
    kept, rollouts, transitions = drop_disagreeing(_hand_rollout(), threshold=0.4)
    # start 1 peaks at 0.9, start 2 at 0.5: both dropped (2 + 1 transitions); start 0 (max 0.3) kept
    assert (rollouts, transitions) == (2, 3)
    assert kept.counts == {"kept": 3, "dropped_disagreement": 3}
    assert kept.start.tolist() == [0, 0, 0] and kept.obs[:, 0].tolist() == [0.0, 3.0, 5.0]
    assert kept.rollout_step.tolist() == [1, 2, 3]
    assert drop_disagreeing(_hand_rollout(), threshold=0.9)[1:] == (0, 0)  # not beyond the threshold
    assert drop_disagreeing(_hand_rollout(), threshold=0.0)[1:] == (3, 6)


def test_proximity_weight_by_hand() -> None:
    candidates = torch.tensor([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    failures = torch.tensor([[3.0, 4.0], [30.0, 40.0]])
    weights, dist = proximity_weights(candidates, failures, torch.tensor([1.0, 1.0]), length=2.0)
    # nearest failure at Euclidean 5, 0, 5; divided by sqrt(2) columns
    expected = torch.tensor([5.0, 0.0, 5.0]) / math.sqrt(2.0)
    torch.testing.assert_close(dist, expected)
    torch.testing.assert_close(weights, torch.exp(-expected / 2.0))
    scaled, _ = proximity_weights(candidates, failures, torch.tensor([3.0, 4.0]), length=1.0)
    assert scaled[1] == 1.0 and scaled[0] == pytest.approx(math.exp(-math.sqrt(2.0) / math.sqrt(2.0)))


def test_split_starts() -> None:
    assert split_starts(100, 0.5, 3) == (50, [17, 17, 16])
    assert split_starts(100, 0.0, 3) == (100, [0, 0, 0])
    assert split_starts(10, 1.0, 0) == (10, [])


def test_contexts_are_drawn_per_start_from_the_scenarios_distributions() -> None:
    gen = _generator(["weak_knee", "slippery_floor", "push_recovery"])
    layout = robots.context_layout(ROBOT)
    rng = np.random.default_rng(0)
    weak = gen.contexts(gen.targets[0], 200, rng)
    knee = weak[:, layout.index("actuator_scale.right_knee")]
    assert (knee >= -0.8 - 1e-6).all() and (knee <= -0.5 + 1e-6).all() and np.unique(knee).size == 200
    assert np.count_nonzero(weak, axis=1).tolist() == [1] * 200
    friction = gen.contexts(gen.targets[1], 50, rng)[:, layout.index("friction_scale")]
    assert (friction >= -0.9 - 1e-6).all() and (friction <= -0.7 + 1e-6).all()
    assert not gen.contexts(gen.targets[2], 5, rng).any()  # a push has no context


def test_push_is_a_velocity_impulse_on_the_torso_root() -> None:
    gen = _generator(["push_recovery"])
    layout = robots.get(ROBOT).layout
    starts = torch.zeros(64, layout.size)
    pushed = gen.push(gen.targets[0], starts, np.random.default_rng(1))
    dv = pushed[:, layout.slice("velocity.rootx")].squeeze(1)
    env = robots.make(ROBOT)
    mass = float(env.unwrapped.mj_model.body_mass.sum())  # type: ignore[attr-defined]
    # 150-400 N for 10 steps of 25 ms, over the walker's whole mass
    assert float(dv.min()) >= 150 * 0.25 / mass - 1e-5 and float(dv.max()) <= 400 * 0.25 / mass + 1e-5
    changed = (pushed != starts).any(0).nonzero().flatten().tolist()
    assert changed == [layout.slice("velocity.rootx").start]
    one = push_velocity_change(env.unwrapped.mj_model, layout, 0.025, {"body": "torso", "force": 400.0,  # type: ignore[attr-defined]
                                                                      "mode": "force"}, 10)  # fmt: skip
    assert one["velocity.rootx"] == pytest.approx(400 * 0.25 / mass)


def test_unusable_scenarios_are_refused_with_their_file() -> None:
    with pytest.raises(scenarios.ScenarioError, match="cannot apply the sensing families"):
        TargetedGenerator([scenarios.get("imu_dropout")], "quadruped-walk", proximity=1.0, disagreement=1.0,
                          drop_range_factor=1.0)  # fmt: skip
    with pytest.raises(scenarios.ScenarioError, match="dead_motor is a scenario of cheetah-run"):
        _generator(["dead_motor"])


def _real_buffer(ctx_dim: int) -> ReplayBuffer:
    """200 real walker transitions under random actions (it falls: the predicate has failures)."""
    env = robots.make(ROBOT, max_episode_steps=100)
    buf = ReplayBuffer(robots.get(ROBOT).layout.size, 6, 1000, ctx_dim=ctx_dim)
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    for _ in range(200):
        act = rng.uniform(-1, 1, 6).astype(np.float32)
        nxt, rew, term, trunc, _ = env.step(act)
        buf.add(obs, act, float(rew), nxt, term, source=Source.REAL, origin="p", seed=0)
        obs = env.reset(seed=1)[0] if term or trunc else nxt
    return buf


def _actor() -> Actor:
    return make_sac(24, 6, hidden=16, depth=1, lr_actor=1e-3, lr_critic=1e-3, lr_alpha=1e-3, init_alpha=0.1,
                    log_std_min=-5, log_std_max=2, device=torch.device("cpu"),
                    generator=torch.Generator().manual_seed(0)).actor  # fmt: skip


def test_generation_tags_counts_and_threshold_end_to_end() -> None:
    layout = robots.context_layout(ROBOT)
    real = _real_buffer(layout.size)
    torch.manual_seed(0)
    model = EnsembleDynamics(24, 6, hyper(max_epochs=3), ctx_dim=layout.size)
    n = real.size
    fit(model, make_optimizer(model), real.obs[:n], real.act[:n], real.rew[:n], real.next_obs[:n],
        torch.Generator().manual_seed(0), real.ctx[:n])  # fmt: skip
    gen = _generator(["push_recovery", "weak_knee"], disagreement=1e9)
    made = gen(model, _actor(), real, [30, 20], 3, torch.Generator().manual_seed(0))
    assert [m.scenario for m in made] == ["push_recovery", "weak_knee"]
    assert [m.starts for m in made] == [30, 20]
    assert all(m.rollouts_dropped == 0 and m.transitions_dropped == 0 for m in made)
    assert made[0].stats["failures_found"] > 0
    weak = made[1].rollout
    assert weak.obs.shape[0] == weak.counts["kept"] and weak.counts["dropped_disagreement"] == 0
    assert (weak.ctx[:, layout.index("actuator_scale.right_knee")] < -0.49).all()
    assert set(weak.rollout_step.tolist()) <= {1, 2, 3}
    # A threshold below the real data's own disagreement drops (nearly) every rollout, and counts it.
    strict = _generator(["push_recovery", "weak_knee"], disagreement=1e-3)
    dropped = strict(model, _actor(), real, [30, 20], 3, torch.Generator().manual_seed(0))
    for result in dropped:
        assert result.rollouts_dropped + len(set(result.rollout.start.tolist())) == result.starts
        assert result.rollout.obs.shape[0] == result.rollout.counts["kept"]
        assert result.transitions_dropped == result.rollout.counts["dropped_disagreement"] > 0
        assert result.rollouts_dropped >= result.starts - 1
    with pytest.raises(ValueError, match="train with context=true"):
        gen(EnsembleDynamics(24, 6, hyper()), _actor(), real, [1, 1], 1, torch.Generator())
