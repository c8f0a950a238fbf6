"""A tiny `synthgate arms` run: three arms trained on one real budget, evaluated on the three panels."""

from __future__ import annotations

import json
from pathlib import Path

import helpers as sft
from helpers import synthgate

from pipeline.config import DEFAULT_WORLD_MODEL
from validation.report import read_report

TINY = [
    "robot=Hopper-v5", f"scenarios=[{sft.PAYLOAD},{sft.WEAK_THIGH}]", "steps=400", "seeds=[0]", "episodes=3",
    "max_steps=60", "learning_starts=200", "eval_every=0", "eval_episodes=1", "log_every=100",
    "checkpoint_every=200", "sac.hidden=16", "algo.utd=1", "algo.retrain_every=100", "algo.rollouts_per_step=5",
    "algo.model.hidden=16", "algo.model.depth=2", "algo.model.weight_decay=[0,0,0]", "algo.model.max_epochs=3",
    "algo.model.members=3", "algo.model.elites=2", "gate.min_real_consumed=10",
]  # fmt: skip


def test_arms_trains_three_arms_on_one_real_budget_and_tabulates_them(tmp_path: Path) -> None:
    res = synthgate("arms", *TINY, f"out={tmp_path}", timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    for arm, algo in (("real_only", "sac"), ("synthetic_only", DEFAULT_WORLD_MODEL), ("mixed", DEFAULT_WORLD_MODEL)):
        summary = json.loads((tmp_path / "runs" / f"{arm}-s0" / "summary.json").read_text())
        assert summary["steps"] == 400 and summary["algo"] == algo  # the same real budget
        consumed = summary["ledger"]["consumed"]
        if arm == "real_only":
            assert consumed["synthetic"] == 0 and consumed["real"] > 0
        if arm == "synthetic_only":
            assert consumed["real"] == 0 and consumed["synthetic"] > 0
        if arm == "mixed":
            assert consumed["real"] > 0 and consumed["synthetic"] > 0
    report = read_report(tmp_path / "validation" / "gate_report.json")
    assert report["arms"] == {
        "candidate": ["mixed-s0"],
        "baseline": ["real_only-s0"],
        "references": ["synthetic_only-s0"],
    }
    table = report["arms_table"]
    assert set(table) == {"nominal", sft.PAYLOAD, sft.WEAK_THIGH}
    for cond in table.values():
        assert set(cond["arms"]) == {"real_only", "synthetic_only", "mixed"}
        assert all(set(row) == {"real", "synthetic", "mixed"} for row in cond["arms"].values())
    assert "| synthetic_only |" in (tmp_path / "arms.md").read_text()
    # A second call finds every run trained and only evaluates.
    again = synthgate("arms", *TINY, f"out={tmp_path}", timeout=900)
    assert again.returncode == 0 and again.stdout.count("already trained") == 3


def test_arms_compare_a_generated_set_with_real_only(tmp_path: Path) -> None:
    """Issue 22: real + generated as an arm, judged by the gate against real_only; the both arm
    (real + model + generated) books both synthetic sources and gives the synthetic panel its model."""
    from pipeline.interchange import write_generated
    from studies.standin_generator import episodes

    data = tmp_path / "gen"
    write_generated(data, "Hopper-v5", episodes("Hopper-v5", sft.PAYLOAD, "shortcut", 300, 0, 100),
                    "generated:standin@shortcut", scenario=sft.PAYLOAD)  # fmt: skip
    missing = synthgate("arms", *TINY, f"out={tmp_path / 'x'}", "arms=[real_only,generated]", "candidate=generated")
    assert missing.returncode == 2 and "need generated=[<dataset>, ...]" in missing.stderr
    res = synthgate("arms", *TINY, f"out={tmp_path / 'out'}", "arms=[real_only,generated,both]",
                    "candidate=generated", f"generated=[{data}]", timeout=900)  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    summary = json.loads((tmp_path / "out" / "runs" / "generated-s0" / "summary.json").read_text())
    source = summary["ledger"]["by_synthetic_source"]["generated:standin@shortcut"]
    assert summary["algo"] == "sac" and source["generated"] == 300 and source["share"] > 0
    both = json.loads((tmp_path / "out" / "runs" / "both-s0" / "summary.json").read_text())
    assert both["algo"] == DEFAULT_WORLD_MODEL
    assert set(both["ledger"]["by_synthetic_source"]) == {"model", "generated:standin@shortcut"}
    assert all(row["consumed"] > 0 for row in both["ledger"]["by_synthetic_source"].values())
    report = read_report(tmp_path / "out" / "validation" / "gate_report.json")
    assert report["arms"] == {"candidate": ["generated-s0"], "baseline": ["real_only-s0"], "references": ["both-s0"]}
    assert set(report["arms_table"]["nominal"]["arms"]) == {"real_only", "generated", "both"}


def test_world_model_picks_the_model_arms_preset_and_algo_is_refused() -> None:
    """``world_model=`` sets the model arms' preset and leaves real_only and generated on SAC; a bare
    ``algo=`` (which would reach every arm, real_only included) is refused with that fix."""
    import importlib

    importlib.import_module("synthgate.cli")  # registers the train schema that compose_arms composes against
    from synthgate.validation_cli import compose_arms
    from validation.arms import ArmsConfig, check_arms

    cfg = ArmsConfig(
        scenarios=[sft.PAYLOAD], seeds=[0], world_model="ftfl", arms=["real_only", "synthetic_only", "mixed"]
    )
    configs = compose_arms(cfg, cfg.arms, [], "arms")
    assert {arm: c.algo.name for (arm, _), c in configs.items()} == {
        "real_only": "sac", "synthetic_only": "ftfl", "mixed": "ftfl"}  # fmt: skip
    assert configs[("synthetic_only", 0)].algo.real_ratio == 0.0
    assert ArmsConfig().world_model == DEFAULT_WORLD_MODEL
    assert "world_model='sac': the model arms need a model-based preset" in str(
        check_arms(ArmsConfig(scenarios=[sft.PAYLOAD], world_model="sac"))
    )
    res = synthgate("arms", "robot=Hopper-v5", f"scenarios=[{sft.PAYLOAD}]", "algo=ftfl")
    assert res.returncode == 2 and "algo=ftfl: the arms choose their own presets" in res.stderr
    assert "world_model=<preset>" in res.stderr and "Traceback" not in res.stderr
