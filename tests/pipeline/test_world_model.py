"""World model: both target types, both normalizations, loss shares by hand, training rules."""

from __future__ import annotations

import pytest
import torch
from helpers import hyper

from pipeline.world_model import EnsembleDynamics, fit, make_optimizer, nll_loss, predict


def _model(target: str, norm: str, obs_dim: int = 2, **kw: object) -> EnsembleDynamics:
    torch.manual_seed(0)
    return EnsembleDynamics(obs_dim, 1, hyper(target=target, target_norm=norm, **kw))


def _data(n: int = 64) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(1)
    obs = torch.randn(n, 2, generator=g) * torch.tensor([10.0, 0.1]) + 3.0
    act = torch.rand(n, 1, generator=g) * 2 - 1
    rew = 0.01 * torch.randn(n, generator=g)
    nxt = obs + 0.5 * torch.randn(n, 2, generator=g)
    return obs, act, rew, nxt


@pytest.mark.parametrize("target", ["direct", "residual"])
@pytest.mark.parametrize("norm", ["independent", "joint"])
def test_encode_then_decode_is_exact(target: str, norm: str) -> None:
    model = _model(target, norm)
    obs, _act, rew, nxt = _data()
    if norm == "independent":
        state = nxt - obs if target == "residual" else nxt
        model.targets.fit(torch.cat([rew.unsqueeze(-1), state], -1))
    encoded = model.encode_targets(obs, rew, nxt)
    mean, var = model.decode(obs, encoded, torch.zeros_like(encoded))
    torch.testing.assert_close(mean[:, 0], rew, rtol=0, atol=1e-6)
    torch.testing.assert_close(mean[:, 1:], nxt, rtol=0, atol=1e-5)
    torch.testing.assert_close(var, model.targets.std.pow(2).expand_as(var))


def test_independent_targets_are_standardized_per_dimension_and_joint_are_raw() -> None:
    obs, _act, rew, nxt = _data()
    ind = _model("direct", "independent")
    ind.targets.fit(torch.cat([rew.unsqueeze(-1), nxt], -1))
    z = ind.encode_targets(obs, rew, nxt)
    torch.testing.assert_close(z.mean(0), torch.zeros(3), rtol=0, atol=1e-5)
    torch.testing.assert_close(z.std(0, unbiased=False), torch.ones(3), rtol=0, atol=1e-4)
    joint = _model("residual", "joint")
    torch.testing.assert_close(joint.encode_targets(obs, rew, nxt), torch.cat([rew.unsqueeze(-1), nxt - obs], -1))


def _zero_output(model: EnsembleDynamics) -> None:
    """Mean 0 and log-variance 0 everywhere: the NLL per dimension is then exactly y^2."""
    with torch.no_grad():
        last = model.layers[-1]
        last.weight.zero_()
        last.bias.zero_()
        model.max_logvar.fill_(50.0)  # bounds far away: softplus leaves log-variance ~0
        model.min_logvar.fill_(-50.0)


def test_joint_reward_share_is_its_raw_scale_by_hand() -> None:
    # Two transitions: rewards 1 and 3; direct next states (2, 0) and (0, 4).
    obs = torch.zeros(2, 2)
    rew = torch.tensor([1.0, 3.0])
    nxt = torch.tensor([[2.0, 0.0], [0.0, 4.0]])
    model = _model("direct", "joint")
    _zero_output(model)
    target = model.encode_targets(obs, rew, nxt)
    m = model.hp.members
    _, metrics = nll_loss(model, obs.expand(m, -1, -1), torch.zeros(m, 2, 1), target.expand(m, -1, -1))
    # mean squares: reward (1 + 9)/2 = 5; state dims (4 + 0)/2 = 2 and (0 + 16)/2 = 8 -> share 5 / 15
    assert metrics["model/reward_mse_share"].item() == pytest.approx(5.0 / 15.0, abs=1e-4)


def test_independent_reward_share_is_one_over_output_dims() -> None:
    obs, act, rew, nxt = _data(256)
    model = _model("direct", "independent")
    model.targets.fit(torch.cat([rew.unsqueeze(-1), nxt], -1))
    _zero_output(model)
    z = model.encode_targets(obs, rew, nxt)
    m = model.hp.members
    _, metrics = nll_loss(model, obs.expand(m, -1, -1), act.expand(m, -1, -1), z.expand(m, -1, -1))
    assert metrics["model/reward_mse_share"].item() == pytest.approx(1.0 / 3.0, abs=1e-3)


def test_fit_learns_picks_elites_and_versions() -> None:
    g = torch.Generator().manual_seed(0)
    obs = torch.randn(600, 2, generator=g)
    act = torch.rand(600, 1, generator=g) * 2 - 1
    nxt = obs * 0.9 + act
    rew = obs[:, 0] - act[:, 0]
    model = _model("direct", "independent", max_epochs=150, holdout_ratio=0.2, batch_size=32)
    before = model.version()
    opt = make_optimizer(model)
    first = fit(model, opt, obs, act, rew, nxt, g)
    assert first.version != before and len(first.version) == 12
    assert sorted(first.elites) == sorted(torch.argsort(torch.tensor(first.holdout_mse))[:2].tolist())
    assert first.holdout.numel() == 120
    second = fit(model, opt, obs, act, rew, nxt, g)  # warm start keeps improving or stops early
    assert min(second.holdout_mse) <= min(first.holdout_mse) * 1.05
    assert second.stopped_by in ("early_stopping", "max_epochs")
    assert min(second.holdout_mse) < 0.1  # a linear map is learned well in normalized space


def test_wall_clock_cap_stops_a_retrain() -> None:
    obs, act, rew, nxt = _data(2000)
    model = _model("direct", "independent", max_epochs=10_000, max_retrain_s=0.2, patience=10_000)
    report = fit(model, make_optimizer(model), obs, act, rew, nxt, torch.Generator().manual_seed(0))
    assert report.stopped_by == "wall_clock" and report.seconds < 5


def test_bad_switches_are_refused() -> None:
    with pytest.raises(ValueError, match=r"target='delta'.*direct, residual"):
        hyper(target="delta")
    with pytest.raises(ValueError, match="target_norm='none'"):
        hyper(target_norm="none")


def test_beta_nll_weights_each_element_by_its_variance_by_hand() -> None:
    model = _model("direct", "joint", likelihood="beta_nll", beta=0.5)
    _zero_output(model)
    with torch.no_grad():  # predicted log-variance log(4) on every output: weight 4**0.5 = 2
        model.layers[-1].bias[..., 3:] = torch.log(torch.tensor(4.0))
    obs, rew, nxt = torch.zeros(1, 2), torch.tensor([2.0]), torch.tensor([[0.0, 0.0]])
    m = model.hp.members
    target = model.encode_targets(obs, rew, nxt).expand(m, -1, -1)
    loss, _ = nll_loss(model, obs.expand(m, -1, -1), torch.zeros(m, 1, 1), target)
    penalty = model.hp.logvar_penalty * (model.max_logvar.sum() - model.min_logvar.sum())
    # per element: (y^2 / 4 + log 4) * 2; mean over the 3 outputs, summed over members
    log4 = torch.log(torch.tensor(4.0)).item()
    expected = m * ((4.0 / 4 + log4) * 2 + 2 * (0.0 + log4) * 2) / 3
    assert (loss - penalty).item() == pytest.approx(expected, rel=1e-4)


def test_prediction_computes_only_the_elites_and_matches_the_full_ensemble() -> None:
    """``raw(members=idx)`` gives those members' numbers; ``predict`` samples each row from the
    elite it picked, with the full ensemble's mean and variance for that elite."""
    torch.manual_seed(0)
    model = EnsembleDynamics(3, 2, hyper(members=5, elites=3, weight_decay=(0.0, 0.0, 0.0)))
    model.elite_idx.copy_(torch.tensor([4, 1, 2]))
    obs, act = torch.randn(40, 3), torch.randn(40, 2)
    full_mean, full_logvar = model.raw(obs, act)
    sub_mean, sub_logvar = model.raw(obs, act, members=model.elite_idx)
    assert sub_mean.shape == (3, 40, 4)
    torch.testing.assert_close(sub_mean, full_mean[model.elite_idx])
    torch.testing.assert_close(sub_logvar, full_logvar[model.elite_idx])
    out = predict(model, obs, act, torch.Generator().manual_seed(3))
    mean, var = model.decode(obs, full_mean, full_logvar)
    gen = torch.Generator().manual_seed(3)  # the same draws predict makes: the elite pick, then the noise
    pick = torch.randint(0, 3, (40,), generator=gen)
    noise = torch.randn(40, 4, generator=gen)
    member = model.elite_idx[pick]
    rows = torch.arange(40)
    expected = mean[member, rows] + var[member, rows].sqrt() * noise
    assert torch.equal(out["elite"], pick)
    torch.testing.assert_close(out["reward"], expected[:, 0])
    torch.testing.assert_close(out["next_obs"], expected[:, 1:])
