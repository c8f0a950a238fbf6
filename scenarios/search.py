"""The statistics of the stress search: a scenario's parameter space, proposals over it, the
cross-entropy method and the importance-sampling estimate of a failure probability.

Nothing here knows about plants or world models: a search point is a row of unit coordinates
(one per continuous parameter, in ``[0, 1]``) and a row of option indices (one per discrete
parameter), scored by any batched function. The nominal distribution ``p`` is the scenario's own:
uniform on the unit cube (each ``Uniform(low, high)`` parameter maps affinely onto ``[0, 1]``)
and uniform over each ``Choice``'s options. Densities are taken in these coordinates, so the
likelihood ratio ``p/q`` is the same as in the parameters' own units.

A proposal ``q`` is a *defensive mixture* (Hesterberg, 1995): ``q = α·p + (1−α)·g``, where ``g``
is a product of truncated normals on ``[0, 1]`` (continuous) and categoricals (discrete). The
mixture bounds every importance weight by ``1/α``, so a proposal that missed part of the failure
region cannot blow the estimate's variance up; it can still under-estimate it (see
docs/stress_search.md).

The cross-entropy method for rare events (Rubinstein & Kroese, 2004): sample from ``q``, keep
the best ``ρ`` share (the elites) above a level that rises each iteration until it reaches the
failure threshold, and refit ``g`` to the elites weighted by ``p/q`` (so ``g`` moves towards
``p`` restricted to the failure region, the zero-variance importance density).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``score(U, C) -> S``: unit coordinates ``[n, dc]`` and option indices ``[n, dk]`` to a score per row."""


@dataclass(frozen=True)
class Proposal:
    """``q = α·p + (1−α)·g`` over the unit cube × the options (module docstring).

    Attributes:
        mean: ``g``'s truncated-normal location per continuous dimension (unit coordinates).
        std: ``g``'s truncated-normal scale per continuous dimension.
        probs: ``g``'s option probabilities per discrete dimension.
        defensive: ``α``, the nominal distribution's share of the mixture, in ``[0, 1]``; 1 is the
            nominal distribution itself.
    """

    mean: np.ndarray
    std: np.ndarray
    probs: tuple[np.ndarray, ...]
    defensive: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.defensive <= 1.0:
            raise ValueError(f"defensive={self.defensive}: must be in [0, 1]")
        if self.mean.shape != self.std.shape or (self.std <= 0).any():
            raise ValueError("mean and std need one entry per continuous dimension, std > 0")

    @staticmethod
    def nominal(dc: int, sizes: Sequence[int]) -> Proposal:
        """The nominal distribution ``p`` (``α = 1``; ``g`` is a placeholder, never drawn)."""
        return Proposal(np.full(dc, 0.5), np.full(dc, 1.0), tuple(np.full(k, 1.0 / k) for k in sizes), 1.0)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(p) for p in self.probs)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` points: unit coordinates ``[n, dc]`` and option indices ``[n, dk]``."""
        dc = self.mean.shape[0]
        from_p = rng.random(n) < self.defensive
        u = rng.random((n, dc))
        c = np.stack([rng.integers(0, k, n) for k in self.sizes], axis=1) if self.sizes else np.zeros((n, 0), int)
        m = int((~from_p).sum())
        if m and dc:
            a, b = (0.0 - self.mean) / self.std, (1.0 - self.mean) / self.std
            u[~from_p] = stats.truncnorm.rvs(a, b, loc=self.mean, scale=self.std, size=(m, dc), random_state=rng)
        for j, probs in enumerate(self.probs):
            if m:
                c[~from_p, j] = rng.choice(len(probs), size=m, p=probs)
        return u, c

    def log_g(self, u: np.ndarray, c: np.ndarray) -> np.ndarray:
        """``log g`` per row."""
        out = np.zeros(u.shape[0])
        if u.shape[1]:
            a, b = (0.0 - self.mean) / self.std, (1.0 - self.mean) / self.std
            out += stats.truncnorm.logpdf(u, a, b, loc=self.mean, scale=self.std).sum(axis=1)
        for j, probs in enumerate(self.probs):
            out += np.log(probs[c[:, j]])
        return out

    def log_q(self, u: np.ndarray, c: np.ndarray) -> np.ndarray:
        """``log q`` per row."""
        lp = log_nominal(u, c, self.sizes)
        if self.defensive >= 1.0:
            return lp
        lg = np.log1p(-self.defensive) + self.log_g(u, c)
        if self.defensive <= 0.0:
            return lg
        return np.logaddexp(math.log(self.defensive) + lp, lg)

    def log_weight(self, u: np.ndarray, c: np.ndarray) -> np.ndarray:
        """``log p/q`` per row: the importance weight of a point drawn from this proposal."""
        return log_nominal(u, c, self.sizes) - self.log_q(u, c)

    def max_weight(self) -> float:
        """An upper bound of ``p/q`` (``1/α``; infinite without a defensive share)."""
        return 1.0 / self.defensive if self.defensive > 0 else math.inf

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "probs": [p.tolist() for p in self.probs],
                "defensive": self.defensive}  # fmt: skip


def log_nominal(u: np.ndarray, c: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """``log p`` per row: 0 on the unit cube (−inf outside), minus ``log k`` per discrete dimension."""
    inside = ((u >= 0.0) & (u <= 1.0)).all(axis=1)
    return np.where(inside, -float(sum(math.log(k) for k in sizes)), -np.inf)


@dataclass
class Iteration:
    """One cross-entropy iteration."""

    samples: int
    level: float
    """The elite level: the ``1−ρ`` quantile of the scores, capped at the target."""
    elites: int
    above_target: int
    best: float


@dataclass
class CEMResult:
    """The outcome of :func:`cross_entropy`."""

    proposal: Proposal
    """The fitted proposal, with the requested defensive share."""
    reached: bool
    """Whether the elite level reached the target (the search found points scoring at least it)."""
    iterations: list[Iteration]
    u: np.ndarray
    """Every evaluated point (unit coordinates), in order."""
    c: np.ndarray
    scores: np.ndarray

    def history(self) -> list[dict[str, Any]]:
        return [vars(it) for it in self.iterations]


def refit(
    prop: Proposal,
    u: np.ndarray,
    c: np.ndarray,
    weights: np.ndarray,
    smoothing: float,
    min_std: float,
    min_prob: float,
    defensive: float,
) -> Proposal:
    """The cross-entropy update: ``g`` fitted to weighted points (weighted moments, option
    frequencies), smoothed towards the previous ``g`` (``new = s·fit + (1−s)·old``), with floors on
    the spread and on every option's probability so no region is shut for good."""
    w = weights / weights.sum()
    if u.shape[1]:
        mean = w @ u
        std = np.sqrt(w @ (u - mean) ** 2)
        old_mean, old_std = prop.mean, prop.std
        if prop.defensive >= 1.0:  # the previous proposal was p: its moments on the unit cube
            old_mean, old_std = np.full_like(mean, 0.5), np.full_like(std, math.sqrt(1.0 / 12.0))
        mean = smoothing * mean + (1.0 - smoothing) * old_mean
        std = np.maximum(smoothing * std + (1.0 - smoothing) * old_std, min_std)
    else:
        mean, std = prop.mean, prop.std
    probs = []
    for j, old in enumerate(prop.probs):
        freq = np.bincount(c[:, j], weights=w, minlength=len(old))
        new = smoothing * freq + (1.0 - smoothing) * old
        new = np.maximum(new, min_prob)
        probs.append(new / new.sum())
    return Proposal(mean, std, tuple(probs), defensive)


def cross_entropy(
    score: Scorer,
    dc: int,
    sizes: Sequence[int],
    *,
    target: float,
    samples: int,
    iterations: int,
    rng: np.random.Generator,
    elite_frac: float = 0.1,
    smoothing: float = 0.7,
    min_std: float = 0.01,
    min_prob: float = 0.01,
    defensive: float = 0.1,
    refine: bool = False,
) -> CEMResult:
    """The cross-entropy method for a rare event ``{score >= target}`` under the nominal ``p``.

    Each iteration draws ``samples`` points from the current proposal (the first from ``p``),
    scores them, sets the level to the ``1 − elite_frac`` quantile of the scores (capped at
    ``target``; when the quantile ties with the lowest score, only points strictly above it are
    elites, so a flat score never passes for progress) and refits ``g`` on the elites weighted by
    ``p/q``. It stops once the level reaches ``target``, fitting that last ``g`` on the points at
    or above the target. With ``refine``, it does not stop there: it keeps going for all
    ``iterations``, the elites being the best ``elite_frac`` share (all at or above the target), so
    ``g`` concentrates on the highest scores rather than on the whole region above the target.

    Returns:
        The fitted proposal (``α = defensive``), whether the target was reached, the per-iteration
        history and every scored point.
    """
    if not 0.0 < elite_frac < 1.0:
        raise ValueError(f"elite_frac={elite_frac}: must be in (0, 1)")
    if iterations < 1 or samples < 1:
        raise ValueError(f"iterations={iterations}, samples={samples}: both must be >= 1")
    prop = Proposal.nominal(dc, sizes)
    fitted: Proposal | None = None
    history: list[Iteration] = []
    all_u, all_c, all_s = [], [], []
    reached = False
    for _ in range(iterations):
        u, c = prop.sample(samples, rng)
        s = np.asarray(score(u, c), dtype=np.float64)
        all_u.append(u)
        all_c.append(c)
        all_s.append(s)
        k = max(1, math.ceil(elite_frac * samples))
        level = float(np.sort(s)[::-1][k - 1])
        if level >= target and refine:
            reached = True
            elite = s >= level
        elif level >= target:
            level, reached = target, True
            elite = s >= target
        elif level > s.min():
            elite = s >= level
        else:
            elite = s > level
        history.append(Iteration(samples, level, int(elite.sum()), int((s >= target).sum()), float(s.max())))
        if elite.any():
            w = np.exp(prop.log_weight(u[elite], c[elite]))
            fitted = refit(prop, u[elite], c[elite], w, smoothing, min_std, min_prob, 0.0)
            prop = fitted
        if reached and not refine:
            break
    final = fitted if fitted is not None else Proposal.nominal(dc, sizes)
    final = Proposal(final.mean, final.std, final.probs, defensive if fitted is not None else 1.0)
    return CEMResult(final, reached, history, np.concatenate(all_u), np.concatenate(all_c), np.concatenate(all_s))


@dataclass
class Estimate:
    """An importance-sampling estimate of a probability, ``mean(w·f)`` over draws from ``q``."""

    p: float
    se: float
    ci_low: float
    ci_high: float
    n: int
    failures: int
    ess: float
    """Kish's effective sample size of the weights, ``(Σw)²/Σw²``."""
    ci_method: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"p": self.p, "se": self.se, "ci95": [self.ci_low, self.ci_high], "n": self.n,
                "failures": self.failures, "ess": self.ess, "ci_method": self.ci_method, **self.extra}  # fmt: skip


Z95 = 1.959963984540054


def importance_estimate(failed: np.ndarray, log_w: np.ndarray, max_weight: float = math.inf) -> Estimate:
    """The unbiased importance-sampling estimate ``p̂ = (1/n) Σ w_i f_i`` and a 95% interval.

    With failures, the interval is the normal one, ``p̂ ± 1.96·sd(w·f)/√n`` (clipped at 0). With
    none, ``p̂ = 0`` and the upper bound is ``max_weight`` times the exact one-sided 95% bound of
    the failure probability under ``q`` (``1 − 0.05^(1/n)``): since ``p = E_q[w·f] ≤ max w · P_q(f)``.
    """
    f = np.asarray(failed, dtype=np.float64)
    w = np.exp(np.asarray(log_w, dtype=np.float64))
    n = f.shape[0]
    if n == 0:
        raise ValueError("no draws: the estimate needs at least one episode")
    x = w * f
    p = float(x.mean())
    ess = float(w.sum() ** 2 / (w**2).sum())
    k = int(f.sum())
    if k:
        se = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
        return Estimate(p, se, max(0.0, p - Z95 * se), p + Z95 * se, n, k, ess, "normal")
    upper = max_weight * (1.0 - 0.05 ** (1.0 / n))
    return Estimate(0.0, 0.0, 0.0, upper, n, 0, ess, "zero failures: max weight x exact bound under q")


def naive_counts(p: float, rel: float = 0.5) -> dict[str, float]:
    """What naive Monte Carlo needs at failure probability ``p``: the expected episodes to the first
    failure (``1/p``) and the episodes for a 95% interval of half-width ``rel·p``
    (``1.96²·(1−p)/(rel²·p)``)."""
    return {"expected_to_first_failure": 1.0 / p, "to_relative_halfwidth": Z95**2 * (1.0 - p) / (rel**2 * p)}


def spread_top(u: np.ndarray, c: np.ndarray, scores: np.ndarray, k: int, pool: int) -> list[int]:
    """``k`` distinct points to confirm, spread over the ``pool`` highest-scoring distinct ones.

    The first is the best score; each next one is the pool's point farthest (Euclidean distance in
    unit coordinates, plus 1 per differing option) from those already chosen, the higher score on
    ties. A model biased within its failure region ranks its ten best points close together,
    often all in the part of that region where the plant does not fail; spread over its best
    ``pool``, the confirmations cover the region. With ``pool <= k``: the top ``k`` by score.

    Returns:
        Row indices into ``u``/``c``/``scores``, in confirmation order.
    """
    order = np.argsort(-scores, kind="stable")
    distinct: list[int] = []
    seen: set[tuple[float, ...]] = set()
    for i in order:
        key = (*np.round(u[i], 9).tolist(), *c[i].tolist())
        if key not in seen:
            seen.add(key)
            distinct.append(int(i))
        if len(distinct) >= max(k, pool):
            break
    if pool <= k:
        return distinct[:k]
    cand = np.asarray(distinct)
    chosen = [0]
    gap = np.full(cand.size, np.inf)
    while len(chosen) < min(k, cand.size):
        last = cand[chosen[-1]]
        d = np.sqrt(((u[cand] - u[last]) ** 2).sum(axis=1)) + (c[cand] != c[last]).sum(axis=1)
        gap = np.minimum(gap, d)
        gap[chosen] = -np.inf
        chosen.append(int(np.argmax(gap)))  # the first maximum: the higher score among equals
    return [int(cand[j]) for j in chosen]


def least_margin_pick(
    u: np.ndarray,
    c: np.ndarray,
    extra: np.ndarray,
    margin: np.ndarray,
    cand_u: np.ndarray,
    cand_c: np.ndarray,
    sizes: Sequence[int],
    exclude: Sequence[int] = (),
) -> int | None:
    """The candidate with the least margin predicted by a linear fit of observed margins.

    The fit is least squares (a tiny ridge, so too few points still give an answer) of ``margin``
    on the unit coordinates, one-hot options (first option dropped) and ``extra`` columns (e.g. 1 for
    an episode that sampled the stochastic policy); candidates are predicted with ``extra = 0``. A
    first-order response surface: it points along the direction in which the observed margins
    fall, so it reaches corners of the space the model may have missed; it cannot find a failure
    pocket in the interior.

    Returns:
        The index into ``cand_u``/``cand_c`` of the least predicted margin, skipping ``exclude``;
        None with fewer than two observations or no candidate left.
    """

    def design(uu: np.ndarray, cc: np.ndarray, ee: np.ndarray) -> np.ndarray:
        cols = [np.ones((uu.shape[0], 1)), uu]
        for j, k in enumerate(sizes):
            cols.append(np.eye(k)[cc[:, j]][:, 1:])
        cols.append(ee)
        return np.concatenate(cols, axis=1)

    if margin.shape[0] < 2 or cand_u.shape[0] == 0:
        return None
    x = design(u, c, extra)
    beta = np.linalg.solve(x.T @ x + 1e-6 * np.eye(x.shape[1]), x.T @ margin)
    pred = design(cand_u, cand_c, np.zeros((cand_u.shape[0], extra.shape[1]))) @ beta
    pred[list(exclude)] = np.inf
    best = int(np.argmin(pred))
    return best if np.isfinite(pred[best]) else None
