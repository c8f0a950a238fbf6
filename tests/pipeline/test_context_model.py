"""Context-conditioned world model, buffer and critic: ctx_dim=0 unchanged, zeros mean nominal."""

from __future__ import annotations

import pytest
import torch
from helpers import hyper

from pipeline.buffer import ReplayBuffer, Source
from pipeline.model_env import ModelEnv, rollout
from pipeline.sac import TwinCritic, make_sac
from pipeline.world_model import EnsembleDynamics, Standardizer, fit, make_optimizer, predict


def _toy(n: int = 200) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    x, a = torch.randn(n, 3, generator=g), torch.randn(n, 1, generator=g)
    return x, a, x[:, 0], x * 0.9 + a


def test_context_free_model_is_unchanged_golden() -> None:
    """Numbers printed by the model before the context existed (commit d6103ce, this script's
    exact calls); regenerate only if the model is meant to change."""
    torch.manual_seed(3)
    model = EnsembleDynamics(3, 1, hyper(max_epochs=3, batch_size=32))
    x, a, rew, nxt = _toy()
    report = fit(model, make_optimizer(model), x, a, rew, nxt, torch.Generator().manual_seed(1))
    out = predict(model, x[:4], a[:4], torch.Generator().manual_seed(2))
    assert report.holdout_mse == pytest.approx([1.230085, 1.197177, 1.287229], abs=2e-5)
    torch.testing.assert_close(out["reward"], torch.tensor([-1.0961204, -0.0894558, 0.9639578, -1.2505274]),
                               rtol=0, atol=1e-4)  # fmt: skip
    assert not any(k.startswith("ctx_inputs") for k in model.state_dict())


def test_context_free_model_refuses_a_context() -> None:
    model = EnsembleDynamics(3, 1, hyper())
    with pytest.raises(ValueError, match="ctx_dim=0"):
        model.raw(torch.zeros(2, 3), torch.zeros(2, 1), torch.ones(2, 2))
    with pytest.raises(ValueError, match="must be >= 0"):
        EnsembleDynamics(3, 1, hyper(), ctx_dim=-1)


def test_constant_context_columns_pass_through_standardization() -> None:
    std = Standardizer(2, constant_as_unit=True)
    std.fit(torch.tensor([[0.0, 1.0], [0.0, 3.0]]))  # column 0 never varies, column 1: mean 2, std 1
    torch.testing.assert_close(std.mean, torch.tensor([0.0, 2.0]))
    torch.testing.assert_close(std.std, torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(std(torch.tensor([[-0.8, 4.0]])), torch.tensor([[-0.8, 2.0]]))
    floored = Standardizer(1)
    floored.fit(torch.zeros(3, 1))
    assert float(floored.std) == pytest.approx(1e-6)


def test_none_context_means_zeros() -> None:
    torch.manual_seed(0)
    model = EnsembleDynamics(3, 1, hyper(), ctx_dim=2)
    model.ctx_inputs.mean.copy_(torch.tensor([0.5, -1.0]))  # zeros standardize to (0 - mean) / std
    model.ctx_inputs.std.copy_(torch.tensor([2.0, 4.0]))
    obs, act = torch.randn(5, 3), torch.randn(5, 1)
    a = model.raw(obs, act)
    b = model.raw(obs, act, torch.zeros(5, 2))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    c = model.raw(obs, act, torch.ones(5, 2))
    assert not torch.equal(a[0], c[0])


def test_model_learns_a_context_dependent_plant() -> None:
    """Next state = obs + 2 * ctx: only a model that reads the context can fit both regimes."""
    g = torch.Generator().manual_seed(4)
    n = 600
    obs, act = torch.randn(n, 1, generator=g), torch.zeros(n, 1)
    ctx = (torch.rand(n, 1, generator=g) < 0.5).float() * -0.8  # nominal (0) or a friction scale of 0.2
    nxt = obs + 2.0 * ctx
    torch.manual_seed(0)
    model = EnsembleDynamics(1, 1, hyper(max_epochs=60, batch_size=64, hidden=32), ctx_dim=1)
    fit(model, make_optimizer(model), obs, act, torch.zeros(n), nxt, torch.Generator().manual_seed(0), ctx)
    probe = torch.tensor([[0.3]])
    nominal = predict(model, probe, torch.zeros(1, 1), torch.Generator().manual_seed(0))["next_obs"]
    slippery = predict(model, probe, torch.zeros(1, 1), torch.Generator().manual_seed(0), torch.tensor([[-0.8]]))
    assert float(nominal) == pytest.approx(0.3, abs=0.15)
    assert float(slippery["next_obs"]) == pytest.approx(0.3 - 1.6, abs=0.15)


def test_rollout_carries_each_starts_context() -> None:
    torch.manual_seed(0)
    model = EnsembleDynamics(2, 1, hyper(), ctx_dim=1)
    env = ModelEnv(model, lambda o: torch.zeros(o.shape[0], dtype=torch.bool), drop_range_factor=1e9)
    actor = make_sac(2, 1, hidden=8, depth=1, lr_actor=1e-3, lr_critic=1e-3, lr_alpha=1e-3, init_alpha=0.1,
                     log_std_min=-5, log_std_max=2, device=torch.device("cpu"),
                     generator=torch.Generator().manual_seed(0)).actor  # fmt: skip
    ctx = torch.tensor([[0.0], [1.0], [2.0]])
    out = rollout(env, actor, torch.zeros(3, 2), 4, torch.Generator().manual_seed(0), ctx)
    assert out.obs.shape[0] == 12 and out.ctx.shape == (12, 1)
    torch.testing.assert_close(out.ctx[:, 0], out.start.float())  # start i carries context i
    assert out.step_disagreement.shape == (12,)
    with pytest.raises(ValueError, match="one per start"):
        rollout(env, actor, torch.zeros(3, 2), 1, torch.Generator(), torch.zeros(2, 1))


def test_buffer_stores_context_and_round_trips() -> None:
    buf = ReplayBuffer(2, 1, 8, ctx_dim=3)
    one, two = torch.ones(2), torch.ones(2, 2)
    buf.add(one, torch.ones(1), 1.0, one, False, source=Source.REAL, origin="p", seed=1, ctx=torch.tensor([0, -0.8, 0]))
    buf.add(two, torch.ones(2, 1), torch.ones(2), two, torch.zeros(2), source=Source.REAL, origin="p", seed=1)
    torch.testing.assert_close(buf.ctx[:3], torch.tensor([[0.0, -0.8, 0.0], [0.0] * 3, [0.0] * 3]))
    copy = ReplayBuffer(2, 1, 8, ctx_dim=3)
    copy.load_state_dict(buf.state_dict())
    torch.testing.assert_close(copy.ctx, buf.ctx, rtol=0, atol=0)
    assert buf.sample(4, torch.Generator().manual_seed(0)).ctx.shape == (4, 3)
    with pytest.raises(ValueError, match="ctx_dim=3"):
        buf.add(one, torch.ones(1), 1.0, one, False, source=Source.REAL, origin="p", seed=1, ctx=torch.ones(1))
    with pytest.raises(ValueError, match="context of width 3"):
        ReplayBuffer(2, 1, 8).load_state_dict(buf.state_dict())
    old = {k: v for k, v in ReplayBuffer(2, 1, 8).state_dict().items() if k != "ctx"}  # before the column existed
    ReplayBuffer(2, 1, 8).load_state_dict(old)


def test_critic_reads_context_only_when_switched_on() -> None:
    torch.manual_seed(0)
    plain = TwinCritic(2, 1, 8, 1)
    assert plain.net.layers[0].in_features == 3
    torch.manual_seed(0)
    with_ctx = TwinCritic(2, 1, 8, 1, ctx_dim=4)
    assert with_ctx.net.layers[0].in_features == 7
    obs, act = torch.randn(5, 2), torch.randn(5, 1)
    torch.testing.assert_close(with_ctx(obs, act), with_ctx(obs, act, torch.zeros(5, 4)), rtol=0, atol=0)
    agent = make_sac(2, 1, hidden=8, depth=1, lr_actor=1e-3, lr_critic=1e-3, lr_alpha=1e-3, init_alpha=0.1,
                     log_std_min=-5, log_std_max=2, device=torch.device("cpu"),
                     generator=torch.Generator().manual_seed(0), critic_ctx_dim=4)  # fmt: skip
    assert agent.actor.net[0].in_features == 2  # the policy never sees the context
