"""Hand-computed checks of the gate's statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from validation.stats import bootstrap_mean, mmrv, paired_bootstrap, pearson


def test_pearson_by_hand() -> None:
    # dx = [-1, 0, 1], dy = [-1, 1, 0]: sum(dx dy) = 1, sum dx^2 = sum dy^2 = 2, so r = 1/2.
    assert pearson(np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 2.0])) == pytest.approx(0.5)
    assert pearson(np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0, 30.0])) == pytest.approx(1.0)
    assert pearson(np.array([1.0, 2.0]), np.array([2.0, 1.0])) == pytest.approx(-1.0)
    assert math.isnan(pearson(np.array([1.0, 1.0, 1.0]), np.array([1.0, 2.0, 3.0])))  # constant side
    assert math.isnan(pearson(np.array([1.0]), np.array([2.0])))


def test_mmrv_by_hand() -> None:
    real, sim = np.array([0.1, 0.5, 0.9]), np.array([0.2, 0.8, 0.6])
    # Only policies 2 and 3 swap order (sim 0.8 > 0.6, real 0.5 < 0.9): each has max violation
    # |0.5 - 0.9| = 0.4, policy 1 has none; MMRV = (0 + 0.4 + 0.4) / 3.
    assert mmrv(real, sim) == pytest.approx(0.8 / 3)
    assert mmrv(real, real * 2 + 1) == 0.0  # any increasing map keeps every rank
    assert mmrv(np.array([0.2, 0.4]), np.array([0.5, 0.1])) == pytest.approx(0.2)
    # The largest violation counts, not the sum: policy 1 violates with both others.
    assert mmrv(np.array([0.0, 0.3, 1.0]), np.array([2.0, 1.0, 0.0])) == pytest.approx((1.0 + 0.7 + 1.0) / 3)


def test_paired_bootstrap_of_a_constant_difference_is_exact() -> None:
    base = np.array([3.0, -7.0, 100.0, 0.5])
    ci = paired_bootstrap(base + 2.0, base, 1000, 0.95, seed=0)
    assert (ci.estimate, ci.low, ci.high, ci.n) == (2.0, 2.0, 2.0, 4)


def test_paired_bootstrap_of_two_values_has_known_quantiles() -> None:
    # Differences {0, 1}: the resampled mean is 0, 0.5, 1 with probability 1/4, 1/2, 1/4, so the
    # 2.5% and 97.5% percentiles are 0 and 1 exactly.
    ci = paired_bootstrap(np.array([5.0, 6.0]), np.array([5.0, 5.0]), 4000, 0.95, seed=3)
    assert (ci.estimate, ci.low, ci.high) == (0.5, 0.0, 1.0)
    # At 40% confidence the 30% and 70% percentiles both fall on 0.5.
    narrow = paired_bootstrap(np.array([5.0, 6.0]), np.array([5.0, 5.0]), 4000, 0.4, seed=3)
    assert (narrow.low, narrow.high) == (0.5, 0.5)


def test_pairing_removes_the_shared_variation() -> None:
    base = np.arange(0.0, 200.0, 10.0)  # very different episodes, the same for both policies
    cand = base + 1.0
    paired = paired_bootstrap(cand, base, 2000, 0.95, seed=0)
    assert paired.low == paired.high == 1.0
    # Unpaired, the same data cannot tell the policies apart.
    unpaired = bootstrap_mean(cand, 2000, 0.95, 1).low - bootstrap_mean(base, 2000, 0.95, 2).high
    assert unpaired < 0


def test_bootstrap_width_matches_the_normal_approximation() -> None:
    x = np.random.default_rng(0).normal(0.0, 1.0, 400)
    ci = bootstrap_mean(x, 4000, 0.95, seed=1)
    expected = 2 * 1.96 * x.std(ddof=1) / math.sqrt(x.size)
    assert ci.high - ci.low == pytest.approx(expected, rel=0.1)
    assert ci.low < x.mean() < ci.high


def test_bootstrap_is_seeded_and_checks_its_inputs() -> None:
    x = np.random.default_rng(0).normal(size=30)
    assert bootstrap_mean(x, 500, 0.9, 7) == bootstrap_mean(x, 500, 0.9, 7)
    with pytest.raises(ValueError, match="equal shapes"):
        paired_bootstrap(np.zeros(3), np.zeros(4), 100, 0.95, 0)
    with pytest.raises(ValueError, match="non-empty"):
        bootstrap_mean(np.zeros(0), 100, 0.95, 0)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_mean(np.zeros(3), 100, 1.0, 0)
