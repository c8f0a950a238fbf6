"""Statistics the gate reads: paired bootstrap confidence intervals and ranking agreement.

Panels are matched, so a comparison between two policies is paired: episode ``i`` of one and
episode ``i`` of the other share seed, perturbation draws and initial state. The interval is for
the mean of the per-episode differences (percentile bootstrap, resampling pairs).

Ranking agreement follows SIMPLER (Li et al., 2024, "Evaluating Real-World Robot Manipulation
Policies in Simulation", Sec. 4): Pearson correlation of the policies' simulated and real scores,
and the mean maximum rank violation

    MMRV = (1/N) sum_i max_j |R_i - R_j| * 1[(S_i < S_j) != (R_i < R_j)]

with ``R`` the real scores and ``S`` the simulated ones (here: synthetic panel).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval."""

    estimate: float
    low: float
    high: float
    confidence: float
    n: int

    def to_json(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "confidence": self.confidence,
                "n": self.n}  # fmt: skip


def bootstrap_mean(values: np.ndarray, samples: int, confidence: float, seed: int) -> Interval:
    """Percentile-bootstrap interval of the mean of ``values``.

    Raises:
        ValueError: empty ``values``, ``samples < 1`` or ``confidence`` outside (0, 1).
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"bootstrap needs a non-empty 1-d sample, got shape {x.shape}")
    if samples < 1:
        raise ValueError(f"bootstrap samples={samples}: must be >= 1")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence}: must be in (0, 1)")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(samples, x.size))
    means = x[idx].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return Interval(float(x.mean()), float(low), float(high), confidence, int(x.size))


def paired_bootstrap(
    candidate: np.ndarray, baseline: np.ndarray, samples: int, confidence: float, seed: int
) -> Interval:
    """Interval of the mean paired difference ``candidate - baseline`` (pairs resampled together).

    Raises:
        ValueError: the two samples differ in length (they are not paired).
    """
    c, b = np.asarray(candidate, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    if c.shape != b.shape:
        raise ValueError(f"paired samples must have equal shapes, got {c.shape} and {b.shape}")
    return bootstrap_mean(c - b, samples, confidence, seed)


def seed_pair_interval(candidate: Sequence[np.ndarray], baseline: Sequence[np.ndarray], confidence: float) -> Interval:
    """Interval of the mean candidate-minus-baseline difference over seed pairs: pair ``k`` is
    candidate run ``k`` and baseline run ``k``, each scored on the same matched episodes; its
    difference is the mean of the per-episode differences. The interval is Student's t over the
    pairs (``k - 1`` degrees of freedom), so it carries seed-to-seed variance as well as
    episode-to-episode variance (each pair's mean contains both). ``n`` is the number of pairs.

    Raises:
        ValueError: fewer than two pairs, or a pair whose two samples differ in length.
    """
    if len(candidate) != len(baseline) or len(candidate) < 2:
        raise ValueError(f"seed-pair interval needs >= 2 pairs, got {len(candidate)} and {len(baseline)} runs")
    diffs = []
    for c, b in zip(candidate, baseline, strict=True):
        c, b = np.asarray(c, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if c.shape != b.shape or c.size == 0:
            raise ValueError(f"a seed pair's samples must be non-empty and paired, got {c.shape} and {b.shape}")
        diffs.append(float((c - b).mean()))
    d = np.asarray(diffs)
    mean = float(d.mean())
    half = float(student_t_quantile(0.5 + confidence / 2.0, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size))
    return Interval(mean, mean - half, mean + half, confidence, int(d.size))


def student_t_quantile(q: float, df: int) -> float:
    """Quantile ``q`` of Student's t with ``df`` degrees of freedom."""
    from scipy import stats

    return float(stats.t.ppf(q, df))


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; NaN when fewer than two points or either side is constant."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"pearson needs equal shapes, got {a.shape} and {b.shape}")
    if a.size < 2:
        return float("nan")
    da, db = a - a.mean(), b - b.mean()
    denom = float(np.sqrt((da**2).sum() * (db**2).sum()))
    return float((da * db).sum() / denom) if denom > 0 else float("nan")


def mmrv(real: np.ndarray, sim: np.ndarray) -> float:
    """SIMPLER's mean maximum rank violation of ``sim`` against ``real`` (0 when the ranks agree)."""
    r, s = np.asarray(real, dtype=np.float64), np.asarray(sim, dtype=np.float64)
    if r.shape != s.shape or r.ndim != 1:
        raise ValueError(f"mmrv needs two equal 1-d arrays, got {r.shape} and {s.shape}")
    if r.size == 0:
        return 0.0
    violated = (s[:, None] < s[None, :]) != (r[:, None] < r[None, :])
    gaps = np.abs(r[:, None] - r[None, :]) * violated
    return float(gaps.max(axis=1).mean())
