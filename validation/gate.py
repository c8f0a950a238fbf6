"""The gate: matched panels in, PROMOTE or REJECT out, with every rule's figures.

docs/architecture.md states the gate plainly. The candidate (trained with targeted synthetic data) is compared
with a baseline trained on the same real budget without it. Each rule below is configurable
(:class:`GateConfig`) and always reported, passed or not; the decision is PROMOTE only when every
rule passed, and a REJECT names every rule that failed.

* ``targeted_improvement`` (one per scenario): on the real panel, the interval of the
  candidate-minus-baseline difference in the scenario's metric excludes zero on the improving side
  (failure rate down; time to failure or return up). With one run per side the interval is the
  paired bootstrap over matched episodes: it judges these two policies, and says nothing about
  seed-to-seed variance. With two or more seed pairs it is Student's t over the pairs' mean
  differences (:func:`validation.stats.seed_pair_interval`), which carries both variances: a
  claim about the training configuration (issue 18, docs/robustness.md). With fewer than
  ``min_seed_pairs`` pairs (default 3) the rule fails whatever the interval says: a configuration
  cannot be promoted on one seed's luck. Every scenario must
  pass, so the scenarios need no multiplicity correction (an intersection-union test: the
  chance that all pass by luck is at most the chance that one does).
* ``nominal_non_inferiority``: on the real panel, the interval's lower bound of the nominal return
  difference is above ``-margin``, ``margin = max(nominal_margin * |baseline mean|, nominal_margin_min)``.
* ``synthetic_real_agreement`` (one per condition): for every policy, the synthetic panel's mean
  is within ``agreement_tolerance`` of the real panel's, both divided by the condition's scale
  (failure rate: 1; time to failure: the episode length; return: the largest |real mean| of the
  policies compared, at least ``return_scale_floor``).
* ``ranking_agreement`` (one per condition): across every policy evaluated, SIMPLER's MMRV of the
  synthetic scores against the real ones (scaled as above) is at most ``max_mmrv``, and Pearson's
  r is at least ``min_pearson`` (checked with three or more policies whose scores vary; with two,
  r is +-1 and says only whether the order agrees, which MMRV already judges).
* ``no_shortcut`` (one per condition): fails when the candidate improves on the synthetic panel
  (its paired interval excludes zero on the improving side) while it does not on the real one:
  the synthetic world taught a shortcut.
* ``ledger_anchor``: each candidate run consumed at least ``min_real_consumed`` real transitions,
  its cumulative synthetic share is at most ``max_synthetic_share``, and the run's ledger reports
  its configured real ratio was respected.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from validation.panels import NOMINAL, Condition, Episodes, PanelSpec, Results
from validation.stats import Interval, mmrv, paired_bootstrap, pearson, seed_pair_interval

RULES = (
    "targeted_improvement",
    "nominal_non_inferiority",
    "synthetic_real_agreement",
    "ranking_agreement",
    "no_shortcut",
    "ledger_anchor",
)


@dataclass(frozen=True)
class GateConfig:
    """The gate's thresholds (all reported with the decision)."""

    confidence: float = 0.95
    """Two-sided confidence level of every interval."""
    bootstrap_samples: int = 4000
    """Bootstrap resamples per interval."""
    bootstrap_seed: int = 0
    """Seed of the bootstrap resampling (the same for every interval)."""
    nominal_margin: float = 0.05
    """Non-inferiority margin on nominal real return, as a fraction of |baseline mean return|."""
    nominal_margin_min: float = 1.0
    """Smallest margin in return units (so a baseline near zero return gets a usable margin)."""
    agreement_tolerance: float = 0.25
    """Largest allowed |synthetic mean - real mean| per policy and condition, in the condition's scale."""
    return_scale_floor: float = 1.0
    """Smallest scale for return metrics."""
    min_pearson: float = 0.7
    """Smallest Pearson r between synthetic and real scores across policies (3+ varying policies)."""
    max_mmrv: float = 0.1
    """Largest SIMPLER mean maximum rank violation (in the condition's scale)."""
    min_real_consumed: int = 1000
    """Real transitions each candidate run must have consumed in its updates."""
    max_synthetic_share: float = 0.95
    """Largest cumulative synthetic share of each candidate run's consumed experience."""
    min_seed_pairs: int = 3
    """Fewest (candidate, baseline) seed pairs for a PROMOTE. The gate's claim is that the training
    configuration helped, and one pair cannot tell that from seed luck: on the robustness study's null
    pairs one pair per side was promoted 13 times in 72 on real-panel evidence alone (docs/robustness.md).
    Three is the fewest whose Student-t interval is usable (t = 4.30); 1 judges two policies only."""

    def __post_init__(self) -> None:
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"gate confidence={self.confidence}: must be in (0, 1)")
        if self.min_seed_pairs < 1:
            raise ValueError(f"gate min_seed_pairs={self.min_seed_pairs}: must be >= 1")
        if self.bootstrap_samples < 100:
            raise ValueError(f"gate bootstrap_samples={self.bootstrap_samples}: must be >= 100")
        for name in ("nominal_margin", "nominal_margin_min", "agreement_tolerance", "max_mmrv", "min_real_consumed"):
            if getattr(self, name) < 0:
                raise ValueError(f"gate {name}={getattr(self, name)}: must be >= 0")
        if self.return_scale_floor <= 0:
            raise ValueError(f"gate return_scale_floor={self.return_scale_floor}: must be > 0")
        if not -1.0 <= self.min_pearson <= 1.0:
            raise ValueError(f"gate min_pearson={self.min_pearson}: must be in [-1, 1]")
        if not 0.0 <= self.max_synthetic_share <= 1.0:
            raise ValueError(f"gate max_synthetic_share={self.max_synthetic_share}: must be in [0, 1]")


@dataclass(frozen=True)
class Arms:
    """Which evaluated policies form the candidate and the baseline. Several runs per side (seeds)
    are pooled: run ``k`` of one side is paired with run ``k`` of the other, episode by episode."""

    candidate: tuple[str, ...]
    baseline: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.candidate or len(self.candidate) != len(self.baseline):
            raise ValueError(
                f"the gate pairs candidate and baseline runs one to one: got {len(self.candidate)} candidate "
                f"and {len(self.baseline)} baseline runs"
            )


def pooled(results: Results, names: Sequence[str], condition: str) -> Episodes:
    """The episodes of several policies under one condition, concatenated in the given order."""
    return Episodes.concat([results[n][condition] for n in names])


def improves(ci: Interval, lower_is_better: bool) -> bool:
    """Whether an interval of candidate-minus-baseline excludes zero on the improving side."""
    return ci.high < 0.0 if lower_is_better else ci.low > 0.0


def _rule(name: str, passed: bool, detail: str, scenario: str | None = None, **values: Any) -> dict[str, Any]:
    return {"name": name, "passed": bool(passed), "detail": detail, "scenario": scenario, "values": _clean(values)}


def _clean(value: Any) -> Any:
    """JSON-safe values: NaN and infinities become None, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def scale(condition: Condition, horizon: int, real_means: Sequence[float], config: GateConfig) -> float:
    """The unit that gaps and rank violations of a condition are measured in (module docstring)."""
    if condition.metric == "failure_rate":
        return 1.0
    if condition.metric == "time_to_failure":
        return float(horizon)
    return max([abs(m) for m in real_means] + [config.return_scale_floor])


def pearson_note(corr: float, policies: int, judged: bool, minimum: float) -> str:
    """The ranking rule's words on Pearson's r: its value when judged, else why it is not."""
    if judged:
        return f"Pearson r {corr:.3f} (min {minimum})"
    if not math.isfinite(corr):
        why = "fewer than 2 policies" if policies < 2 else "one panel's scores are all equal"
        return f"Pearson r undefined ({why}): not judged"
    return f"Pearson r {corr:.3f} not judged (needs 3 or more policies, {policies} here)"


Differ = Callable[[Results, Condition], Interval]


def differ(arms: Arms, horizon: int, config: GateConfig) -> Differ:
    """The candidate-minus-baseline interval of a condition's metric on one panel: Student's t over
    seed pairs with two or more, else the paired bootstrap over matched episodes (module docstring)."""

    def diff(results: Results, cond: Condition) -> Interval:
        if len(arms.candidate) >= 2:  # seed pairs: an interval over pairs carries seed-to-seed variance
            c_runs = [results[n][cond.name].metric(cond.metric, horizon) for n in arms.candidate]
            b_runs = [results[n][cond.name].metric(cond.metric, horizon) for n in arms.baseline]
            return seed_pair_interval(c_runs, b_runs, config.confidence)
        c = pooled(results, arms.candidate, cond.name).metric(cond.metric, horizon)
        b = pooled(results, arms.baseline, cond.name).metric(cond.metric, horizon)
        return paired_bootstrap(c, b, config.bootstrap_samples, config.confidence, config.bootstrap_seed)

    return diff


def evaluate(
    spec: PanelSpec,
    panels: Mapping[str, Results],
    arms: Arms,
    ledgers: Mapping[str, Mapping[str, Any]],
    config: GateConfig,
) -> tuple[str, list[dict[str, Any]]]:
    """Applies every rule; returns the decision and the rules (each with its figures).

    Args:
        spec: the panels' specification (conditions, episode length).
        panels: ``panels["real" | "synthetic"][policy][condition]``.
        arms: which policies are the candidate and the baseline.
        ledgers: each candidate run's ledger summary, by policy name.
        config: thresholds.
    """
    real, synth = panels["real"], panels["synthetic"]
    conditions = spec.conditions()
    diff = differ(arms, spec.max_steps, config)
    rules = targeted_rules(real, [c for c in conditions if c.scenario is not None], arms, diff, config)
    rules.append(nominal_rule(real, conditions[0], arms, diff, config))
    for cond in conditions:
        rules += agreement_rules(real, synth, cond, spec.max_steps, diff, config)
    rules.append(ledger_rule(arms, ledgers, config))
    decision = "PROMOTE" if all(r["passed"] for r in rules) else "REJECT"
    return decision, rules


def targeted_rules(
    real: Results, scenario_conds: Sequence[Condition], arms: Arms, diff: Differ, config: GateConfig
) -> list[dict[str, Any]]:
    """``targeted_improvement``, one per scenario condition (a failed one when there is none)."""
    if not scenario_conds:
        return [_rule("targeted_improvement", False, "no scenario was given: nothing targeted can improve")]
    pairs = len(arms.candidate)
    over = (f"{pairs} seed pairs (Student t over the pairs' mean differences)"
            if pairs >= 2 else "{n} matched episodes")  # fmt: skip
    few = (f"; and {pairs} seed pair(s) cannot tell a gain of the configuration from seed luck: a PROMOTE "
           f"needs at least min_seed_pairs={config.min_seed_pairs} (train seeds=3 or more per arm)"
           if pairs < config.min_seed_pairs else "")  # fmt: skip
    rules = []
    for cond in scenario_conds:
        ci = diff(real, cond)
        side = "below 0 (fewer failures)" if cond.lower_is_better else "above 0"
        rules.append(_rule(
            "targeted_improvement", improves(ci, cond.lower_is_better) and not few,
            f"real {cond.metric}, candidate - baseline = {ci.estimate:.4g}, {config.confidence:.0%} paired CI "
            f"[{ci.low:.4g}, {ci.high:.4g}] over {over.format(n=ci.n)}; must lie entirely {side}{few}",
            cond.name, metric=cond.metric, ci=ci.to_json(), seed_pairs=pairs, min_seed_pairs=config.min_seed_pairs,
        ))  # fmt: skip
    return rules


def nominal_rule(real: Results, nominal: Condition, arms: Arms, diff: Differ, config: GateConfig) -> dict[str, Any]:
    """``nominal_non_inferiority`` on the real panel's nominal return."""
    ci = diff(real, nominal)
    base_mean = float(pooled(real, arms.baseline, NOMINAL).returns.mean())
    margin = max(config.nominal_margin * abs(base_mean), config.nominal_margin_min)
    return _rule(
        "nominal_non_inferiority", ci.low >= -margin,
        f"real nominal return, candidate - baseline = {ci.estimate:.4g}, CI low {ci.low:.4g} must be >= "
        f"-{margin:.4g} (margin = max({config.nominal_margin} x |baseline mean {base_mean:.4g}|, "
        f"{config.nominal_margin_min}))",
        None, ci=ci.to_json(), margin=margin, baseline_mean=base_mean,
    )  # fmt: skip


def agreement_rules(
    real: Results, synth: Results, cond: Condition, horizon: int, diff: Differ, config: GateConfig
) -> list[dict[str, Any]]:
    """A condition's ``synthetic_real_agreement``, ``ranking_agreement`` and ``no_shortcut``."""
    policies = list(real)
    r = np.array([real[p][cond.name].metric(cond.metric, horizon).mean() for p in policies])
    s = np.array([synth[p][cond.name].metric(cond.metric, horizon).mean() for p in policies])
    unit = scale(cond, horizon, list(r), config)
    gaps = np.abs(s - r) / unit
    invalid = {p: float(synth[p][cond.name].invalid.mean()) for p in policies}
    worst = policies[int(np.argmax(gaps))]
    agreement = _rule(
        "synthetic_real_agreement", bool((gaps <= config.agreement_tolerance).all()),
        f"{cond.metric}: largest |synthetic - real| / {unit:.4g} is {gaps.max():.3g} ({worst}: synthetic "
        f"{s[policies.index(worst)]:.4g} vs real {r[policies.index(worst)]:.4g}); tolerance "
        f"{config.agreement_tolerance}",
        cond.name, metric=cond.metric, scale=unit, tolerance=config.agreement_tolerance,
        real={p: float(v) for p, v in zip(policies, r, strict=True)},
        synthetic={p: float(v) for p, v in zip(policies, s, strict=True)},
        gap={p: float(v) for p, v in zip(policies, gaps, strict=True)}, invalid_share=invalid,
    )  # fmt: skip
    corr = pearson(s, r)
    violation = mmrv(r / unit, s / unit)
    use_r = len(policies) >= 3 and math.isfinite(corr)
    ok = violation <= config.max_mmrv and (not use_r or corr >= config.min_pearson)
    r_note = pearson_note(corr, len(policies), use_r, config.min_pearson)
    ranking = _rule(
        "ranking_agreement", ok,
        f"{cond.metric} across {len(policies)} policies: MMRV {violation:.3g} (max {config.max_mmrv}); {r_note}",
        cond.name, pearson=corr, mmrv=violation, policies=len(policies), pearson_judged=use_r,
        max_mmrv=config.max_mmrv, min_pearson=config.min_pearson,
    )  # fmt: skip
    ci_s, ci_r = diff(synth, cond), diff(real, cond)
    shortcut = improves(ci_s, cond.lower_is_better) and not improves(ci_r, cond.lower_is_better)
    no_shortcut = _rule(
        "no_shortcut", not shortcut,
        (f"SHORTCUT: the candidate improves {cond.metric} on the synthetic panel "
         f"(CI [{ci_s.low:.4g}, {ci_s.high:.4g}]) but not on the real one (CI [{ci_r.low:.4g}, {ci_r.high:.4g}])")
        if shortcut else
        (f"{cond.metric}: synthetic CI [{ci_s.low:.4g}, {ci_s.high:.4g}], real CI [{ci_r.low:.4g}, "
         f"{ci_r.high:.4g}]: no improvement that is synthetic only"),
        cond.name, synthetic_ci=ci_s.to_json(), real_ci=ci_r.to_json(),
    )  # fmt: skip
    return [agreement, ranking, no_shortcut]


def ledger_rule(arms: Arms, ledgers: Mapping[str, Mapping[str, Any]], config: GateConfig) -> dict[str, Any]:
    """``ledger_anchor`` over every candidate run's ledger summary."""
    problems, figures = [], {}
    for name in arms.candidate:
        led = ledgers.get(name)
        if led is None:
            problems.append(f"{name}: no ledger")
            continue
        real_n, share = int(led["consumed"]["real"]), float(led["synthetic_share_cumulative"])
        figures[name] = {"real_consumed": real_n, "synthetic_share": share, "run_anchor": bool(led["real_anchor"])}
        if real_n < config.min_real_consumed:
            problems.append(f"{name}: {real_n} real transitions consumed < {config.min_real_consumed}")
        if share > config.max_synthetic_share:
            problems.append(f"{name}: synthetic share {share:.3f} > {config.max_synthetic_share}")
        if not led["real_anchor"]:
            problems.append(f"{name}: its ledger reports the configured real ratio was not respected")
    return _rule(
        "ledger_anchor", not problems,
        "; ".join(problems) if problems else
        f"every candidate run consumed >= {config.min_real_consumed} real transitions with synthetic share <= "
        f"{config.max_synthetic_share}",
        None, runs=figures, min_real_consumed=config.min_real_consumed,
        max_synthetic_share=config.max_synthetic_share,
    )  # fmt: skip


def failed_names(rules: Sequence[Mapping[str, Any]]) -> list[str]:
    """``name`` or ``name:scenario`` of every failed rule, in order."""
    return [r["name"] + (f":{r['scenario']}" if r.get("scenario") else "") for r in rules if not r["passed"]]
