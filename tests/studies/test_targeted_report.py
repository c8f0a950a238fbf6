"""Issue 32's study tables on hand-made logs with hand-computed numbers: the paired cells and
relative cuts, the fraction of the oracle's gain, the panel-agreement figures, and the gate's study
and null decisions on a toy (studies/targeted_report.py)."""

from __future__ import annotations

from typing import Any

import pytest

from studies import targeted_report as tr
from studies.targeted import panel_policies

H = 10


def ep(failed: list[int], ret: float = 0.0) -> dict[str, Any]:
    n = len(failed)
    return {"failed": failed, "failure_step": [2 if f else 0 for f in failed], "returns": [ret] * n,
            "length": [H] * n, "invalid": [0] * n}  # fmt: skip


def policy(ret: float, heavy: list[int], weak: list[int]) -> dict[str, Any]:
    return {"nominal": ep([0, 0, 0, 0], ret), "hopper_heavy_torso": ep(heavy), "hopper_weak_thigh": ep(weak)}


CONDITIONS = [
    {"name": "nominal", "metric": "return", "lower_is_better": False},
    {"name": "hopper_heavy_torso", "metric": "failure_rate", "lower_is_better": True},
    {"name": "hopper_weak_thigh", "metric": "time_to_failure", "lower_is_better": False},
]
ARMS = {"real_only": {"panel": None}, "sim_residual": {"panel": "sim_residual"}, "oracle": {"panel": "sim_residual"}}
LEDGER = {"consumed": {"real": 5000}, "synthetic_share_cumulative": 0.5, "real_anchor": True}


def toy_log(gt: dict[str, Any], seeds: list[int], real: Any = None, synth: Any = None) -> dict[str, Any]:
    return {"robot": "Hopper-v5", "budget": 5000, "horizon": H, "seeds": seeds,
            "scenarios": ["hopper_heavy_torso", "hopper_weak_thigh"], "arms": ARMS, "conditions": CONDITIONS,
            "ground_truth": gt, "gate_real": real or {}, "gate_synthetic": synth or {},
            "gate_spec": {"episodes": 4, "max_steps": H, "seed": 0, "num_envs": 4, "robot_settings": {}},
            "ledgers": {n: LEDGER for n in gt}, "diagnostics": {}}  # fmt: skip


def test_a_cell_by_hand() -> None:
    # baseline: heavy torso fails 4 of 4 (rate 1), weak thigh 2 of 4 (0.5), returns 100
    base = policy(100.0, [1, 1, 1, 1], [1, 1, 0, 0])
    gt = {
        "real_only-s0": base, "real_only-s1": base, "real_only-s2": base,
        # heavy torso 0.5, 0.25, 0.75 (changes -0.5, -0.75, -0.25); weak thigh unchanged; return 100
        "oracle-s0": policy(100.0, [1, 1, 0, 0], [1, 1, 0, 0]),
        "oracle-s1": policy(100.0, [1, 0, 0, 0], [1, 1, 0, 0]),
        "oracle-s2": policy(100.0, [1, 1, 1, 0], [1, 1, 0, 0]),
        # heavy torso -0.25 each seed; weak thigh +0.5 each (fails 4 of 4: hurts); return 100
        "sim_residual-s0": policy(100.0, [1, 1, 1, 0], [1, 1, 1, 1]),
        "sim_residual-s1": policy(100.0, [1, 1, 1, 0], [1, 1, 1, 1]),
        "sim_residual-s2": policy(100.0, [1, 1, 1, 0], [1, 1, 1, 1]),
    }  # fmt: skip
    log = toy_log(gt, [0, 1, 2])
    oracle = tr.cell(log, "oracle")
    assert oracle["per_seed"]["hopper_heavy_torso"] == [-0.5, -0.75, -0.25]
    mean, _low, high = oracle["intervals"]["hopper_heavy_torso"]
    # sd 0.25, se 0.25/sqrt(3), t(0.975, 2) = 4.3027: half-width 0.6211
    assert mean == -0.5 and high == pytest.approx(-0.5 + 0.6211, abs=1e-4)
    cut = oracle["cuts"]["hopper_heavy_torso"]  # -(change) / baseline rate 1, the bounds in order
    assert cut == pytest.approx((0.5, 0.5 - 0.6211, 0.5 + 0.6211), abs=1e-4)
    assert oracle["verdict"] == "unclear"  # the heavy-torso interval crosses 0
    res = tr.cell(log, "sim_residual")
    assert res["intervals"]["hopper_weak_thigh"] == (0.5, 0.5, 0.5)  # no spread between seeds
    assert res["cuts"]["hopper_weak_thigh"] == (-1.0, -1.0, -1.0)  # -(+0.5) / 0.5: doubled
    assert res["margin"] == 5.0 and res["verdict"] == "hurts"


def test_the_fraction_of_the_oracle_gain_by_hand() -> None:
    assert tr.oracle_fraction([-0.2, -0.2, -0.2], [-0.4, -0.4, -0.4]) == (0.5, 0.5, 0.5)
    # two seeds: resampled arm means are -0.1, -0.2 or -0.3 over an oracle mean of -0.4 (fixed)
    est, low, high = tr.oracle_fraction([-0.1, -0.3], [-0.4, -0.4])
    assert est == pytest.approx(0.5) and low == pytest.approx(0.25) and high == pytest.approx(0.75)
    with pytest.raises(ValueError):
        tr.oracle_fraction([-0.1], [-0.2])


def test_the_oracle_fraction_of_an_arm_with_fewer_seeds_uses_the_seeds_both_have() -> None:
    # the oracle has seeds 0-3, the arm 0-1; on seeds 0-1 the oracle's cuts are -0.4 and -0.4
    oracle = {"seeds": [0, 1, 2, 3], "per_seed": {"s": [-0.4, -0.4, +0.9, +0.9]}}
    arm = {"seeds": [0, 1], "per_seed": {"s": [-0.1, -0.3]}}
    assert tr.fraction_cell(arm, oracle, "s") == "0.5 [0.25, 0.75] (2 seeds)"
    # over all four seeds the oracle's cut includes 0, but on the common seeds it is -0.4 flat
    assert tr.fraction_cell({"seeds": [0, 1, 2, 3], "per_seed": {"s": [-0.1] * 4}}, oracle, "s").startswith("–")
    assert tr.fraction_cell({**arm, "seeds": [1, 0]}, oracle, "s") == "0.5 [0.25, 0.75] (2 seeds)"


def test_panel_agreement_figures_by_hand() -> None:
    # the synthetic panel swaps the two best policies: each of them is misordered against the other
    # by a real gap of 1, the worst policy by none: MMRV (1 + 1 + 0) / 3
    assert tr.mmrv([1.0, 2.0, 3.0], [1.0, 3.0, 2.0]) == pytest.approx(2 / 3)
    assert tr.mmrv([1.0, 2.0, 3.0], [5.0, 6.0, 7.0]) == 0.0
    a = tr.agreement([1.0, 2.0, 3.0], [5.0, 6.0, 7.0])
    assert a["pearson"] == pytest.approx(1.0) and a["spearman"] == pytest.approx(1.0) and a["level"] == 4.0
    b = tr.agreement([1.0, 2.0, 3.0], [3.0, 2.0, 1.0])
    assert b["pearson"] == pytest.approx(-1.0) and b["mmrv"] == pytest.approx((2 + 1 + 2) / 3)


def _gate_log(good: set[str]) -> dict[str, Any]:
    """Six seeds of each arm; a run in ``good`` never fails and returns 100, the others always fail
    and return 10; every synthetic panel agrees with the real one exactly."""
    runs = [f"{a}-s{s}" for a in ARMS for s in range(6)]
    real = {n: policy(100.0, [0] * 4, [0] * 4) if n in good else policy(10.0, [1] * 4, [1] * 4) for n in runs}
    synth = {f"sim_residual-s{s}": dict(real) for s in range(6)}
    return toy_log(real, list(range(6)), real, synth)


def test_the_study_and_null_decisions_on_a_toy() -> None:
    # the oracle's runs are all good and the rest all bad: the oracle helps, and both of its halves
    # (3 seed pairs each) are promoted, with the corrected sim's panel; the corrected sim's runs equal
    # the baseline's: unclear, rejected; every null split is rejected
    log = _gate_log({f"oracle-s{s}" for s in range(6)})
    ds = tr.decisions(log)
    by = {(d["arm"], d["truth"], tuple(d["candidates"])): d for d in ds}
    assert by[("oracle", "helps", ("oracle-s0", "oracle-s1", "oracle-s2"))]["decision"] == "PROMOTE"
    assert by[("oracle", "helps", ("oracle-s3", "oracle-s4", "oracle-s5"))]["decision"] == "PROMOTE"
    assert tr.panel_maker(log, "oracle-s4") == "sim_residual-s4" and tr.panel_maker(log, "real_only-s2") == (
        "sim_residual-s2"
    )
    res = [d for d in ds if d["arm"] == "sim_residual" and d["truth"] != "null"]
    assert [d["truth"] for d in res] == ["unclear", "unclear"] and {d["decision"] for d in res} == {"REJECT"}
    assert not res[0]["real_rules_pass"]
    nulls = [d for d in ds if d["truth"] == "null"]
    assert [d["arm"] for d in nulls] == ["real_only", "sim_residual", "oracle"]
    assert {d["decision"] for d in nulls} == {"REJECT"}
    assert nulls[0]["candidates"] == ["real_only-s0", "real_only-s2", "real_only-s4"]
    # a seed effect (even seeds good in every arm) is what a null split can wrongly promote
    even = _gate_log({f"{a}-s{s}" for a in ARMS for s in (0, 2, 4)})
    assert {d["decision"] for d in tr.decisions(even) if d["truth"] == "null"} == {"PROMOTE"}


def test_each_panel_maker_holds_the_policies_its_decisions_need() -> None:
    names = [f"{a}-s{s}" for a in ("real_only", "sim", "sim_residual", "oracle") for s in range(6)] + ["start"]
    makers = panel_policies(names)
    assert set(makers) == {f"{a}-s{s}" for a in ("sim", "sim_residual") for s in range(6)}
    assert set(makers["sim-s0"]) == set(names)  # seed 0: every policy (the panel as an evaluator)
    # seed 2 (null partner 3): itself, the oracle it judges, the baseline, and their partners
    # (the baseline's null partners too: a comparison of runs without a source uses the corrected sim's)
    assert sorted(makers["sim_residual-s2"]) == ["oracle-s2", "oracle-s3", "real_only-s2", "real_only-s3",
                                                 "sim_residual-s2", "sim_residual-s3"]  # fmt: skip
    assert makers["sim-s5"] == ["sim-s5", "real_only-s5"]


def test_an_anchored_arm_is_compared_at_its_own_setting() -> None:
    # heavy torso: the plain baseline fails 4 of 4, the anchored one 2 of 4, the anchored oracle 1 of 4,
    # the anchored corrected sim 2/4, 1/4, 3/8 by seed. Each anchored arm is compared with
    # real_only_anchor, the anchored baseline with the plain one, a fraction with the anchored oracle
    plain, anchored = policy(100.0, [1, 1, 1, 1], [0] * 4), policy(100.0, [1, 1, 0, 0], [0] * 4)
    seeds = [0, 1, 2]
    gt: dict[str, Any] = {f"real_only-s{s}": plain for s in seeds} | {f"real_only_anchor-s{s}": anchored for s in seeds}
    gt |= {f"oracle_anchor-s{s}": policy(100.0, [1, 0, 0, 0], [0] * 4) for s in seeds}  # -0.25 each seed
    gt |= {"sim_residual_anchor-s0": policy(100.0, [1, 1, 0, 0], [0] * 4),
           "sim_residual_anchor-s1": policy(100.0, [1, 0, 0, 0], [0] * 4),
           "sim_residual_anchor-s2": policy(100.0, [1, 1, 0, 0, 0, 0, 1, 0], [0] * 4)}  # fmt: skip
    arms = {"real_only": {"panel": None}, "real_only_anchor": {"panel": None},
            "sim_residual_anchor": {"panel": "sim_residual_anchor"},
            "oracle_anchor": {"panel": "sim_residual_anchor"}}  # fmt: skip
    log = toy_log(gt, seeds) | {"arms": arms, "ground_truth_spec": {"episodes": 4, "seed": 1}}
    assert tr.compared_with("real_only") is None and tr.compared_with("real_only_anchor") == "real_only"
    assert tr.compared_with("oracle_anchor") == "real_only_anchor" and tr.compared_with("sim") == "real_only"
    assert (
        tr.compared_with("real_only_anchor10") == "real_only"
        and tr.compared_with("oracle_anchor10") == "real_only_anchor10"
    )
    assert tr.cell(log, "real_only_anchor", "real_only")["per_seed"]["hopper_heavy_torso"] == [-0.5] * 3
    assert tr.cell(log, "oracle_anchor", "real_only_anchor")["per_seed"]["hopper_heavy_torso"] == [-0.25] * 3
    res = tr.cell(log, "sim_residual_anchor", "real_only_anchor")["per_seed"]["hopper_heavy_torso"]
    assert res == [0.0, -0.25, -0.125]
    assert tr.oracle_fraction(res, [-0.25] * 3)[0] == pytest.approx(0.5)  # -0.125 / -0.25
    page = "\n".join(tr.block_section(log))
    assert "| real_only_anchor against real_only | " in page and "| oracle_anchor | " in page
    assert "| sim_residual_anchor | 0.5 [" in page  # the fraction row, against the anchored oracle
    assert tr.panel_maker(log, "real_only_anchor-s1") == "sim_residual_anchor-s1"
    # the anchored baseline's null partners ride on the anchored corrected sim's panel
    makers = panel_policies([f"{a}-s{s}" for a in arms for s in range(6)])
    # each judged arm with its null partner (seed 5), and what it is compared with on its own seed:
    # real_only_anchor for the anchored arms, the plain real_only for real_only_anchor itself
    assert sorted(makers["sim_residual_anchor-s4"]) == sorted(
        [f"{a}-s{s}" for a in ("oracle_anchor", "real_only_anchor", "sim_residual_anchor") for s in (4, 5)]
        + ["real_only-s4"]
    )


def test_the_makers_panels_hold_every_decision_and_the_anchor_against_plain_is_gated() -> None:
    # every synthetic panel holds exactly what panel_policies asks of it; the anchored runs never fail
    # and return 100, the plain ones always fail and return 10: the anchored baseline's halves against
    # the plain baseline are PROMOTEd (truth: helps), its null split REJECTed
    arms = {"real_only": {"panel": None}, "real_only_anchor": {"panel": None},
            "sim_residual_anchor": {"panel": "sim_residual_anchor"}, "real_only_anchor10": {"panel": None},
            "oracle_anchor10": {"panel": "sim_residual_anchor"}}  # fmt: skip
    names = [f"{a}-s{s}" for a in arms for s in range(6)]
    real = {n: policy(100.0, [0] * 4, [0] * 4) if "anchor" in n else policy(10.0, [1] * 4, [1] * 4) for n in names}
    synth = {m: {p: real[p] for p in ps} for m, ps in panel_policies(names).items()}
    log = toy_log(real, list(range(6)), real, synth) | {"arms": arms}
    ds = {(d["arm"], d["truth"], d["candidates"][0]): d["decision"] for d in tr.decisions(log)}
    assert ds[("real_only_anchor", "helps", "real_only_anchor-s0")] == "PROMOTE"
    assert ds[("real_only_anchor", "helps", "real_only_anchor-s3")] == "PROMOTE"
    assert ds[("real_only_anchor", "null", "real_only_anchor-s0")] == "REJECT"
    assert ds[("sim_residual_anchor", "unclear", "sim_residual_anchor-s0")] == "REJECT"  # equal to its baseline
    assert ds[("real_only_anchor10", "helps", "real_only_anchor10-s3")] == "PROMOTE"  # against the plain one
    assert ds[("oracle_anchor10", "unclear", "oracle_anchor10-s3")] == "REJECT"  # against real_only_anchor10
    # every anchored arm's halves and null; real_only's null needs the plain corrected sim, absent here
    assert len(tr.decisions(log)) == 4 * 3


def test_a_seed_0_panel_ranks_the_policies_of_its_own_family() -> None:
    names = [f"{a}-s{s}" for a in ("real_only", "sim", "real_only_anchor", "sim_anchor", "oracle_anchor10")
             for s in range(6)] + ["start"]  # fmt: skip
    makers = panel_policies(names)
    assert set(makers["sim-s0"]) == {n for n in names if "anchor" not in n}
    assert set(makers["sim_anchor-s0"]) == {n for n in names if "anchor" in n} | {"start"}
