"""The world model's stopping rules (issue 33): what each counts as "still learning", by hand, and a
retrain on a small fixed dataset that stops by its rule long before the caps, the same under a seed."""

from __future__ import annotations

import pytest
import torch
from helpers import hyper

from pipeline.world_model import STOP_RULES, EnsembleDynamics, fit, make_optimizer, stop_step


def test_a_creeping_member_keeps_the_member_rule_learning_but_not_mbrl_libs() -> None:
    """Member 0 creeps down 0.6% an epoch. Under ``member`` its best stays at the first value, so
    by the second epoch it is 1.2% below that and counts as an improvement; under ``mbrl`` its best
    followed it down when member 1 improved, so the same epoch is not one."""
    first = torch.tensor([0.994, 0.9])  # member 1 improves by 10%, member 0 by 0.6%
    second = torch.tensor([0.988, 0.9])  # only member 0 moves, 0.6% again
    best0 = torch.tensor([1.0, 1.0])
    keep, learning, _ = stop_step(hyper(stop_rule="member"), best0, first, 1.0)
    assert keep.tolist() == [False, True] and learning
    best = torch.where(keep, first, best0)
    assert best.tolist() == pytest.approx([1.0, 0.9])  # member 0's stale best
    keep, learning, _ = stop_step(hyper(stop_rule="member"), best, second, 1.0)
    assert learning and keep.tolist() == [True, False]  # 1.2% below the stale 1.0

    keep, learning, _ = stop_step(hyper(stop_rule="mbrl"), best0, first, 1.0)
    assert keep.tolist() == [True, True] and learning  # every lower member's best follows
    best = torch.where(keep, first, best0)
    keep, learning, _ = stop_step(hyper(stop_rule="mbrl"), best, second, 1.0)
    assert not learning and not keep.any()  # 0.6% below its own best: not an improvement

    mean0 = float(best0.mean())
    keep, learning, best_mean = stop_step(hyper(stop_rule="mean"), best0, first, mean0)
    assert learning and keep.tolist() == [True, True] and best_mean == pytest.approx(0.947)
    keep, learning, after = stop_step(hyper(stop_rule="mean"), torch.where(keep, first, best0), second, best_mean)
    assert not learning and after == best_mean  # the mean fell 0.3%
    assert keep.tolist() == [True, False]  # member 0 still keeps its lower weights


def _noisy(n: int = 1500) -> tuple[torch.Tensor, ...]:
    """A learnable map plus noise it cannot learn: the holdout loss flattens out at the noise."""
    g = torch.Generator().manual_seed(3)
    obs = torch.randn(n, 3, generator=g)
    act = torch.rand(n, 1, generator=g) * 2 - 1
    nxt = 0.8 * obs + act + 0.3 * torch.randn(n, 3, generator=g)
    rew = obs[:, 0] * act[:, 0] + 0.3 * torch.randn(n, generator=g)
    return obs, act, rew, nxt


def _retrain(rule: str) -> tuple[object, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    hp = hyper(stop_rule=rule, members=5, elites=3, hidden=32, max_epochs=400, max_retrain_s=1e9, patience=5)
    model = EnsembleDynamics(3, 1, hp)
    report = fit(model, make_optimizer(model), *_noisy(), torch.Generator().manual_seed(0))
    return report, {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("rule", ["mbrl", "mean"])
def test_a_retrain_stops_by_its_rule_before_the_caps_and_repeats_under_a_seed(rule: str) -> None:
    report, weights = _retrain(rule)
    assert report.stopped_by == "early_stopping" and report.epochs < 200  # max_epochs 400, no time cap
    again, weights_again = _retrain(rule)
    assert again.epochs == report.epochs and again.holdout_mse == report.holdout_mse
    assert all(torch.equal(weights[k], weights_again[k]) for k in weights)


def test_every_rule_is_known_and_a_wrong_one_is_refused() -> None:
    assert STOP_RULES == ("member", "mbrl", "mean")
    with pytest.raises(ValueError, match=r"stop_rule='patience'.*member, mbrl, mean"):
        hyper(stop_rule="patience")
