"""The stress search's statistics on toy problems with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scenarios.search import Proposal, cross_entropy, importance_estimate, naive_counts


def corner(u: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Fails in the corner u0 > 0.96, u1 < 0.05, option 2 of 3: p = 0.04 * 0.05 / 3 = 6.67e-4."""
    return (u[:, 0] > 0.96) & (u[:, 1] < 0.05) & (c[:, 0] == 2)


P_CORNER = 0.04 * 0.05 / 3


def corner_score(u: np.ndarray, c: np.ndarray) -> np.ndarray:
    """A graded score: 1 inside the corner, less the further away (never reaching 1 outside)."""
    gap = np.maximum(0.96 - u[:, 0], 0) + np.maximum(u[:, 1] - 0.05, 0) + 0.5 * (c[:, 0] != 2)
    return np.where(corner(u, c), 1.0, 0.9 - gap)


def test_weights_have_mean_one_and_are_bounded_by_the_defensive_share() -> None:
    rng = np.random.default_rng(0)
    q = Proposal(np.array([0.9, 0.1]), np.array([0.05, 0.2]), (np.array([0.1, 0.2, 0.7]),), defensive=0.2)
    u, c = q.sample(200_000, rng)
    w = np.exp(q.log_weight(u, c))
    assert abs(w.mean() - 1.0) < 0.02  # E_q[p/q] = 1
    assert w.max() <= q.max_weight() + 1e-9
    assert ((u >= 0) & (u <= 1)).all() and set(np.unique(c)) == {0, 1, 2}


def test_importance_estimate_recovers_an_analytic_probability() -> None:
    # A proposal centred on the corner: 3000 draws estimate p = 6.67e-4 within a few standard errors,
    # and the 95% interval covers it in about 95% of 200 repetitions.
    q = Proposal(np.array([0.98, 0.025]), np.array([0.03, 0.03]), (np.array([0.1, 0.1, 0.8]),), defensive=0.1)
    rng = np.random.default_rng(1)
    covered, estimates = 0, []
    for _ in range(200):
        u, c = q.sample(3000, rng)
        est = importance_estimate(corner(u, c), q.log_weight(u, c), q.max_weight())
        covered += est.ci_low <= P_CORNER <= est.ci_high
        estimates.append(est.p)
    assert abs(np.mean(estimates) - P_CORNER) < 0.02 * P_CORNER  # unbiased (200 x 3000 draws)
    assert 0.90 <= covered / 200 <= 0.99
    # Naive sampling from p at the same budget sees about 2 failures: the point of the proposal.
    assert naive_counts(P_CORNER)["expected_to_first_failure"] == pytest.approx(1500)


def test_zero_failures_give_a_bound_not_a_point() -> None:
    est = importance_estimate(np.zeros(100, bool), np.zeros(100), max_weight=10.0)
    assert est.p == 0.0 and est.ci_low == 0.0
    assert est.ci_high == pytest.approx(10.0 * (1 - 0.05 ** (1 / 100)))
    with pytest.raises(ValueError, match="at least one"):
        importance_estimate(np.zeros(0, bool), np.zeros(0))


def test_cross_entropy_finds_the_corner_and_its_proposal_estimates_it() -> None:
    rng = np.random.default_rng(2)
    res = cross_entropy(corner_score, 2, [3], target=1.0, samples=500, iterations=20, rng=rng, defensive=0.1)
    assert res.reached
    assert res.iterations[-1].above_target > 0
    assert res.iterations[0].above_target < 5  # p is rare: the first (nominal) draw barely sees it
    q = res.proposal
    assert q.defensive == 0.1
    u, c = q.sample(4000, rng)
    assert corner(u, c).mean() > 0.3  # the proposal lives in the failure region
    est = importance_estimate(corner(u, c), q.log_weight(u, c), q.max_weight())
    assert abs(est.p - P_CORNER) < 0.2 * P_CORNER
    assert est.ci_low <= P_CORNER <= est.ci_high


def test_cross_entropy_does_not_mistake_a_flat_score_for_progress() -> None:
    res = cross_entropy(lambda u, c: np.zeros(len(u)), 1, [], target=1.0, samples=100, iterations=3,
                        rng=np.random.default_rng(3))  # fmt: skip
    assert not res.reached and all(it.elites == 0 for it in res.iterations)
    assert res.proposal.defensive == 1.0  # nothing was fitted: the nominal distribution
    assert math.isclose(float(np.exp(res.proposal.log_weight(np.array([[0.3]]), np.zeros((1, 0), int)))[0]), 1.0)


def test_refined_cross_entropy_concentrates_on_the_highest_scores_but_keeps_its_floor() -> None:
    # Scores above the target everywhere in the corner, highest at its tip (1, 0): refine keeps going
    # past the target towards the tip; the spread never falls below min_std.
    def tip(u: np.ndarray, c: np.ndarray) -> np.ndarray:
        return corner_score(u, c) + np.where(corner(u, c), u[:, 0] - u[:, 1], 0.0)

    rng = np.random.default_rng(4)
    plain = cross_entropy(tip, 2, [3], target=1.0, samples=500, iterations=8, rng=rng, min_std=0.02)
    refined = cross_entropy(tip, 2, [3], target=1.0, samples=500, iterations=8, rng=rng, min_std=0.02, refine=True)
    assert plain.reached and refined.reached
    assert len(refined.iterations) == 8 > len(plain.iterations)
    assert refined.proposal.mean[0] > plain.proposal.mean[0] and refined.proposal.mean[1] < plain.proposal.mean[1]
    assert (refined.proposal.std >= 0.02).all()


def test_pooled_stages_weigh_each_by_its_episodes() -> None:
    from scenarios.stress import pool

    rng = np.random.default_rng(5)
    q1 = Proposal(np.array([0.9, 0.1]), np.array([0.1, 0.1]), (np.array([0.2, 0.2, 0.6]),), defensive=0.1)
    q2 = Proposal(np.array([0.98, 0.025]), np.array([0.03, 0.03]), (np.array([0.1, 0.1, 0.8]),), defensive=0.1)
    stages = []
    for q, n in ((q1, 1000), (q2, 3000)):
        u, c = q.sample(n, rng)
        stages.append(importance_estimate(corner(u, c), q.log_weight(u, c), q.max_weight()))
    est = pool(stages)
    assert est.n == 4000 and est.failures == stages[0].failures + stages[1].failures
    assert est.p == pytest.approx(0.25 * stages[0].p + 0.75 * stages[1].p)
    assert est.se == pytest.approx(math.hypot(0.25 * stages[0].se, 0.75 * stages[1].se))
    assert est.ci_low <= P_CORNER <= est.ci_high


def test_spread_top_starts_at_the_best_and_spreads_over_the_pool() -> None:
    from scenarios.search import spread_top

    # Six points: a tight cluster of the best three near (0.9, 0.9), two at (0.5, 0.9) and (0.9, 0.5).
    u = np.array([[0.90, 0.90], [0.91, 0.90], [0.90, 0.91], [0.50, 0.90], [0.90, 0.50], [0.90, 0.90]])
    c = np.zeros((6, 0), dtype=np.int64)
    s = np.array([1.0, 0.99, 0.98, 0.7, 0.6, 1.0])  # the last duplicates the first: never chosen twice
    assert spread_top(u, c, s, 3, 3) == [0, 1, 2]  # pool <= k: the best three
    assert spread_top(u, c, s, 3, 5) == [0, 3, 4]  # the best, then the farthest of the pool
    assert spread_top(u, c, s, 2, 2) == [0, 1]
    assert spread_top(u, c, s, 10, 40) == [0, 3, 4, 1, 2]  # fewer distinct points than asked: all of them


def test_least_margin_pick_follows_the_observed_margins_downhill() -> None:
    from scenarios.search import least_margin_pick

    rng = np.random.default_rng(0)
    u = rng.random((6, 2))
    c = rng.integers(0, 2, (6, 1))
    explore = (np.arange(6) % 2).reshape(-1, 1).astype(float)
    # Margin falls with u0, rises with u1, option 1 costs 0.3, exploring episodes 0.2 lower.
    m = 1.0 - 0.8 * u[:, 0] + 0.4 * u[:, 1] - 0.3 * c[:, 0] - 0.2 * explore[:, 0]
    cand_u = np.array([[0.9, 0.1], [0.9, 0.9], [0.1, 0.1], [0.95, 0.05]])
    cand_c = np.array([[1], [1], [1], [0]])
    # predicted: 0.25, 0.57, 0.77, 0.26 -> the first; excluded, the fourth
    assert least_margin_pick(u, c, explore, m, cand_u, cand_c, [2]) == 0
    assert least_margin_pick(u, c, explore, m, cand_u, cand_c, [2], exclude=[0]) == 3
    assert least_margin_pick(u[:1], c[:1], explore[:1], m[:1], cand_u, cand_c, [2]) is None  # too few
