"""World-model prediction routed by elite (issue 6, the synthetic panel's throughput): each row
computed by its drawn elite only, the draws made apart so a caller can keep each row's random
numbers, the disagreement optional and written out."""

from __future__ import annotations

import pytest
import torch
from helpers import hyper

from pipeline.world_model import EnsembleDynamics, draw, elite_spread, predict


def _routed_model() -> EnsembleDynamics:
    """5 members, elites 4, 1, 2 (not the first ones), a context input, residual targets with their
    own statistics: every part of the prediction path that routing touches."""
    torch.manual_seed(0)
    model = EnsembleDynamics(3, 2, hyper(members=5, elites=3, target="residual", weight_decay=(0.0,) * 3), ctx_dim=2)
    model.elite_idx.copy_(torch.tensor([4, 1, 2]))
    model.targets.mean.copy_(torch.tensor([0.5, -1.0, 2.0, 0.0]))
    model.targets.std.copy_(torch.tensor([2.0, 0.5, 3.0, 1.0]))
    return model


def test_raw_rows_computes_each_row_by_its_own_member() -> None:
    model = _routed_model()
    obs, act, ctx = torch.randn(50, 3), torch.randn(50, 2), torch.randn(50, 2)
    member = torch.randint(0, 5, (50,), generator=torch.Generator().manual_seed(1))
    member[member == 3] = 0  # a member with no rows at all
    rows = torch.arange(50)
    full_mean, full_logvar = model.raw(obs, act, ctx)
    with torch.no_grad():
        mean, logvar = model.raw_rows(obs, act, ctx, member)
    torch.testing.assert_close(mean, full_mean[member, rows])
    torch.testing.assert_close(logvar, full_logvar[member, rows])
    mean, _ = model.raw_rows(obs, act, ctx, member)  # with gradients on, the activations are not in place
    mean.sum().backward()
    assert model.layers[0].weight.grad is not None  # type: ignore[union-attr]


def test_routed_prediction_equals_all_elites_then_pick() -> None:
    """Without the disagreement each row runs through its drawn elite only; from the same generator
    state that is the step that computes every elite and keeps the drawn one (float rounding aside)."""
    model = _routed_model()
    obs, act, ctx = torch.randn(64, 3), torch.randn(64, 2), torch.randn(64, 2)
    full = predict(model, obs, act, torch.Generator().manual_seed(7), ctx)
    routed = predict(model, obs, act, torch.Generator().manual_seed(7), ctx, disagreement=False)
    assert torch.equal(routed["elite"], full["elite"]) and set(full["elite"].tolist()) == {0, 1, 2}
    torch.testing.assert_close(routed["reward"], full["reward"])
    torch.testing.assert_close(routed["next_obs"], full["next_obs"])
    assert routed["disagreement"] is None
    # the disagreement (asked for by default) is the std across elites of their next-state means
    elites, _ = model.decode(obs, *model.raw(obs, act, ctx, members=model.elite_idx))
    torch.testing.assert_close(full["disagreement"], elites[..., 1:].detach().std(dim=0).mean(dim=-1))
    torch.testing.assert_close(elite_spread(elites[..., 1:].detach()), full["disagreement"])


def test_given_draws_keep_each_rows_random_numbers() -> None:
    """Stepping some rows of a batch with that batch's draws of those rows gives those rows' step of
    the whole batch: a row's random numbers do not depend on which other rows are stepped."""
    model = _routed_model()
    obs, act, ctx = torch.randn(40, 3), torch.randn(40, 2), torch.randn(40, 2)
    whole = predict(model, obs, act, torch.Generator().manual_seed(3), ctx, disagreement=False)
    some = torch.tensor([1, 5, 6, 20, 39])
    draws = draw(model, 40, torch.Generator().manual_seed(3), obs.device).rows(some)
    part = predict(model, obs[some], act[some], torch.Generator(), ctx[some], disagreement=False, draws=draws)
    assert torch.equal(part["elite"], whole["elite"][some])
    torch.testing.assert_close(part["next_obs"], whole["next_obs"][some])
    torch.testing.assert_close(part["reward"], whole["reward"][some])
    # drawn from the generator otherwise: another subset without the batch's draws is another step
    other = predict(model, obs[some], act[some], torch.Generator().manual_seed(3), ctx[some], disagreement=False)
    assert not torch.allclose(other["next_obs"], part["next_obs"])
    whole_draws = draw(model, 40, torch.Generator(), obs.device)
    with pytest.raises(ValueError, match="draws has 40 rows for 5 rows"):
        predict(model, obs[some], act[some], torch.Generator(), ctx[some], draws=whole_draws)
