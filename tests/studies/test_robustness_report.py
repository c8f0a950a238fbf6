"""The robustness study's aggregation on small hand-made logs, with hand-computed numbers, and the
null-calibration path on a toy (studies/robustness_report.py)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from studies import robustness_report as rr
from validation.gate import GateConfig

H = 10  # horizon of the toy logs


def ep(failed: list[int], steps: list[int] | None = None, returns: list[float] | None = None) -> dict[str, Any]:
    n = len(failed)
    return {"failed": failed, "failure_step": steps or [0] * n, "returns": returns or [0.0] * n,
            "length": [H] * n, "invalid": [0] * n}  # fmt: skip


CONDITIONS = [
    {"name": "nominal", "metric": "return", "lower_is_better": False},
    {"name": "hopper_heavy_torso", "metric": "failure_rate", "lower_is_better": True},
    {"name": "hopper_weak_thigh", "metric": "time_to_failure", "lower_is_better": False},
]


def toy_log(ground_truth: dict[str, Any], seeds: list[int], gate_real: Any = None, gate_synth: Any = None) -> dict:
    return {
        "robot": "Hopper-v5", "budget": 2000, "horizon": H, "seeds": seeds,
        "scenarios": ["hopper_heavy_torso", "hopper_weak_thigh"],
        "arms": {"real_only": {}, "mixed": {}}, "conditions": CONDITIONS,
        "ground_truth": ground_truth, "gate_real": gate_real or {}, "gate_synthetic": gate_synth or {},
        "gate_spec": {"episodes": 4, "max_steps": H, "seed": 0, "num_envs": 4, "robot_settings": {}},
        "ledgers": {}, "diagnostics": {},
    }  # fmt: skip


def policy(ret: float, failed: list[int], ttf_steps: list[int], ttf_failed: list[int]) -> dict[str, Any]:
    """One policy's episodes under the three conditions (4 episodes each)."""
    return {
        "nominal": ep([0, 0, 0, 0], returns=[ret] * 4),
        "hopper_heavy_torso": ep(failed),
        "hopper_weak_thigh": ep(ttf_failed, ttf_steps),
    }


def test_metric_values_by_hand() -> None:
    e = ep([1, 0, 1], [3, 0, 7], [1.5, 2.5, 3.5])
    assert rr.metric_values(e, "failure_rate", H).tolist() == [1.0, 0.0, 1.0]
    assert rr.metric_values(e, "time_to_failure", H).tolist() == [3.0, 10.0, 7.0]  # censored at the horizon
    assert rr.metric_values(e, "return", H).tolist() == [1.5, 2.5, 3.5]
    with pytest.raises(ValueError):
        rr.metric_values(e, "speed", H)


def test_t_interval_and_wilson_by_hand() -> None:
    mean, low, high = rr.t_interval([1.0, 2.0, 3.0])
    # sd 1, se 1/sqrt(3), t(0.975, 2) = 4.3027
    assert mean == 2.0 and high - 2.0 == pytest.approx(4.3027 / math.sqrt(3), rel=1e-4) and low == 2 * 2.0 - high
    low, high = rr.wilson(0, 20)
    assert low == 0.0 and high == pytest.approx(0.1611, abs=1e-4)
    low, high = rr.wilson(10, 20)
    assert (low, high) == pytest.approx((0.2993, 0.7007), abs=1e-4)


def test_verdict_rules() -> None:
    lower = {"nominal": False, "a": True, "b": False}
    ok_nominal = (0.0, -0.5, 0.5)
    assert rr.verdict({"nominal": ok_nominal, "a": (-0.3, -0.5, -0.1), "b": (2, 1, 3)}, lower, 1.0) == "helps"
    # one scenario's interval crosses 0: not a gain; none on its worsening side and nominal fine: unclear
    assert rr.verdict({"nominal": ok_nominal, "a": (-0.3, -0.5, 0.1), "b": (2, 1, 3)}, lower, 1.0) == "unclear"
    # a failure rate that went up for sure: hurts, whatever else improved
    assert rr.verdict({"nominal": ok_nominal, "a": (0.3, 0.1, 0.5), "b": (2, 1, 3)}, lower, 1.0) == "hurts"
    # nominal return below -margin for sure: hurts; nominal low end below -margin: not a gain
    assert rr.verdict({"nominal": (-5, -6, -4), "a": (-0.3, -0.5, -0.1), "b": (2, 1, 3)}, lower, 1.0) == "hurts"
    assert rr.verdict({"nominal": (0, -2, 2), "a": (-0.3, -0.5, -0.1), "b": (2, 1, 3)}, lower, 1.0) == "unclear"


def test_cells_by_hand() -> None:
    gt = {
        # seed 0: failure rate 0.5 vs 1 (-0.5); time to failure [3, 5, 10, 10] = 7 vs [2, 2, 4, 4] = 3 (+4)
        "mixed-s0": policy(100.0, [0, 0, 1, 1], [3, 5, 0, 0], [1, 1, 0, 0]),
        "real_only-s0": policy(100.0, [1, 1, 1, 1], [2, 2, 4, 4], [1, 1, 1, 1]),
        # seed 1: failure rate 0.75 vs 1 (-0.25); time to failure 10 vs 3 (+7); return 90 vs 100 (-10)
        "mixed-s1": policy(90.0, [0, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]),
        "real_only-s1": policy(100.0, [1, 1, 1, 1], [2, 2, 4, 4], [1, 1, 1, 1]),
    }
    (cell,) = rr.cells([toy_log(gt, [0, 1])])
    assert cell.per_seed["hopper_heavy_torso"] == [-0.5, -0.25]
    assert cell.per_seed["hopper_weak_thigh"] == [4.0, 7.0]
    assert cell.per_seed["nominal"] == [0.0, -10.0]
    t1 = 12.7062  # t(0.975, 1)
    mean, _low, high = cell.intervals["hopper_heavy_torso"]
    assert mean == -0.375 and high == pytest.approx(-0.375 + t1 * 0.125, rel=1e-4)  # sd 0.1768 / sqrt(2)
    assert cell.margin == 5.0  # 0.05 x |baseline mean 100|
    assert cell.verdict == "unclear"  # two seeds cannot exclude 0 here
    # seed 1's pair on its own: every nominal episode returns 10 less (below -margin 5 for sure): hurts
    assert rr.pair_truth(toy_log(gt, [0, 1]), "mixed-s1", "real_only-s1") == "hurts"
    # seed 0's pair: failure rate diffs [-1, -1, 0, 0] can resample to 0, nominal equal: unclear
    assert rr.pair_truth(toy_log(gt, [0, 1]), "mixed-s0", "real_only-s0") == "unclear"


def _gate_panels(better: dict[str, bool]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Gate panels for the runs ``better`` names, of 4 episodes per condition:
    a run marked better never fails and returns 100; the others always fail at step 2 and return 10.
    Synthetic panels agree with real ones exactly."""
    real = {}
    for name, good in better.items():
        if good:
            real[name] = policy(100.0, [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0])
        else:
            real[name] = policy(10.0, [1, 1, 1, 1], [2, 2, 2, 2], [1, 1, 1, 1])
    synth = {m: {p: real[p] for p in real} for m in real if m.startswith("mixed")}
    return real, synth


def _null_log(better: dict[str, bool]) -> dict[str, Any]:
    real, synth = _gate_panels(better)
    log = toy_log(real, list(range(6)), real, synth)
    ledger = {"consumed": {"real": 5000}, "synthetic_share_cumulative": 0.5, "real_anchor": True}
    log["ledgers"] = {name: ledger for name in better}
    return log


def test_null_calibration_path_on_a_toy() -> None:
    # seed 0 runs are good, the rest bad: null pair (0 vs 1) is a clear real difference between two
    # identically configured runs (a false PROMOTE when the gate judges one seed per side); (2 vs 3)
    # and (4 vs 5) are identical policies and must be rejected.
    log = _null_log({f"{arm}-s{s}": s == 0 for arm in ("mixed", "real_only") for s in range(6)})
    one_pair = GateConfig(min_seed_pairs=1)  # judge each pair alone, as the gate did before issue 18
    decisions = rr.null_decisions([log], one_pair)
    assert [(d.arm, d.candidates, d.baselines) for d in decisions] == [
        ("real_only", ("real_only-s0",), ("real_only-s1",)), ("real_only", ("real_only-s2",), ("real_only-s3",)),
        ("real_only", ("real_only-s4",), ("real_only-s5",)),
        ("mixed", ("mixed-s0",), ("mixed-s1",)), ("mixed", ("mixed-s2",), ("mixed-s3",)),
        ("mixed", ("mixed-s4",), ("mixed-s5",)),
    ]  # fmt: skip
    assert [d.decision for d in decisions] == ["PROMOTE", "REJECT", "REJECT"] * 2
    assert all(d.truth == "null" for d in decisions)
    # the real_only candidate has no world model: its synthetic panel is the same seed's mixed model's
    assert rr.model_for(log, "real_only-s2") == "mixed-s2"
    assert "targeted_improvement:hopper_heavy_torso" in decisions[1].failed
    k = sum(d.decision == "PROMOTE" for d in decisions)
    assert rr.wilson(k, len(decisions))[0] > 0.05  # one pair per side is miscalibrated here, and the path shows it
    # the default gate needs 3 seed pairs: no null pair alone is promoted
    assert [d.decision for d in rr.null_decisions([log])] == ["REJECT"] * 6
    # the three null pairs of an arm in one decision, at the default: differences (s0 - s1, s2 - s3,
    # s4 - s5) = (large, 0, 0), so the seed-level interval (t, 2 degrees of freedom) straddles 0
    together = rr.null_decisions([log], together=True)
    assert [(d.candidates, d.baselines, d.decision) for d in together] == [
        (("real_only-s0", "real_only-s2", "real_only-s4"), ("real_only-s1", "real_only-s3", "real_only-s5"), "REJECT"),
        (("mixed-s0", "mixed-s2", "mixed-s4"), ("mixed-s1", "mixed-s3", "mixed-s5"), "REJECT"),
    ]  # fmt: skip
    assert "targeted_improvement:hopper_heavy_torso" in together[1].failed
    # the path can count a false PROMOTE: even seeds systematically better (a seed effect, not a setting)
    even = _null_log({f"{arm}-s{s}": s % 2 == 0 for arm in ("mixed", "real_only") for s in range(6)})
    assert [d.decision for d in rr.null_decisions([even], together=True)] == ["PROMOTE", "PROMOTE"]
    # a group that lacks one of its pairs is left out, not judged on fewer pairs
    five = _null_log({f"{arm}-s{s}": False for arm in ("mixed", "real_only") for s in range(5)})
    assert rr.null_decisions([five], together=True) == []


def test_evaluation_todo_extends_a_log_by_hand() -> None:
    from studies.robustness_eval import evaluation_todo, run_names, synthetic_policies

    names = run_names(8000)  # mixed, mixed_rr50, real_only x seeds 0-5
    assert len(names) == 18
    old_names = [n for n in names if not n.endswith("-s5")]
    old = {"ground_truth": {n: {} for n in old_names},
           "gate_synthetic": {m: {p: {} for p in synthetic_policies(m, old_names)}
                              for m in old_names if not m.startswith("real_only")}}  # fmt: skip
    new, models, load = evaluation_todo(names, old)
    assert new == {"mixed-s5", "mixed_rr50-s5", "real_only-s5"}
    # seed 4's models must now also panel their null partner, seed 5 (and mixed-s4 the baseline's)
    assert models == {"mixed-s4", "mixed_rr50-s4", "mixed-s5", "mixed_rr50-s5"}
    assert load == new | models | {"real_only-s4"}
    assert evaluation_todo(names, None) == (set(names), set(names) - {f"real_only-s{s}" for s in range(6)}, set(names))


def test_confusion_counts() -> None:
    cases = [("PROMOTE", "helps"), ("PROMOTE", "hurts"), ("REJECT", "helps"), ("REJECT", "unclear")]
    d = [rr.Decision("r", 1, "a", ("c",), ("b",), dec, (), truth) for dec, truth in cases]
    table = rr.confusion(d)
    assert table == {"helps": {"PROMOTE": 1, "REJECT": 1}, "unclear": {"PROMOTE": 0, "REJECT": 1},
                     "hurts": {"PROMOTE": 1, "REJECT": 0}}  # fmt: skip


def test_splice_keeps_the_prose() -> None:
    doc = f"intro\n{rr.BEGIN}\nold\n{rr.END}\noutro\n"
    assert rr.splice(doc, "new\n") == f"intro\n{rr.BEGIN}\nnew\n{rr.END}\noutro\n"
    with pytest.raises(ValueError):
        rr.splice("no markers", "x")
    assert np.isfinite(rr.margin(0.0))


def test_an_early_end_without_the_named_predicate_becomes_a_failure_in_old_logs() -> None:
    # four episodes of an old log: named predicate at step 3; ended by the plant at 6 (another
    # predicate); ran to the horizon; dropped as invalid (synthetic) at 4
    old = {"failed": [1, 0, 0, 0], "failure_step": [3, 0, 0, 0], "length": [3, 6, H, 4], "invalid": [0, 0, 0, 1],
           "returns": [1.0, 2.0, 3.0, 4.0]}  # fmt: skip
    new = rr.redefine_episodes(old, H)
    assert new["failed"] == [1, 1, 0, 0] and new["failure_step"] == [3, 6, 0, 0] and new["named_failed"] == [1, 0, 0, 0]
    assert (
        rr.metric_values(old, "failure_rate", H).mean() == 0.25
        and rr.metric_values(new, "failure_rate", H).mean() == 0.5
    )
    # time to failure: [3, 10, 10, 10] = 8.25 before, [3, 6, 10, 10] = 7.25 after
    assert rr.metric_values(old, "time_to_failure", H).mean() == 8.25
    assert rr.metric_values(new, "time_to_failure", H).mean() == 7.25
    assert rr.redefine_episodes(new, H) == new  # a record of the new definition is left as it is
    # a whole log: the scenario conditions change, nominal does not, the input is not modified
    gt = {"mixed-s0": {"nominal": ep([0, 0], returns=[5.0, 5.0]) | {"length": [4, 4]}, "hopper_heavy_torso": old}}
    log = rr.redefined(toy_log(gt, [0], gate_real=gt, gate_synth={"mixed-s0": gt}))
    assert log["ground_truth"]["mixed-s0"]["nominal"]["failed"] == [0, 0]
    for panel in (log["ground_truth"], log["gate_real"], log["gate_synthetic"]["mixed-s0"]):
        assert panel["mixed-s0"]["hopper_heavy_torso"]["failed"] == [1, 1, 0, 0]
    assert old["failed"] == [1, 0, 0, 0]
