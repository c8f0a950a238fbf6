"""Issue 32's study arms (studies/targeted.py): every arm of a block composes to a valid train
config, the anchored arms differ from their plain twins by the anchor alone, and the larger
budget holds the anchored baseline and oracle only."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import validate
from studies import targeted as t


def test_every_arm_composes_and_each_anchored_arm_is_its_twin_plus_the_anchor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(t, "shortcut_data", lambda robot: tmp_path)  # the shortcut arms' import must exist
    configs = t.train_configs("Hopper-v5", 5000)
    assert {a for a, _ in configs} == {a.key for a in t.ARMS}
    assert len(configs) == sum(len(t.seeds_of(a.key)) for a in t.ARMS) == len(t.ARMS) * 6 + 4 * 6
    for (arm, seed), cfg in configs.items():
        validate(cfg)
        assert cfg.seed == seed and cfg.steps == 5000 and cfg.init_from == "shipped" and cfg.exposure == t.EXPOSURE
        assert cfg.sac.anchor == t.ANCHORS.get(t.suffix_of(arm), 0.0)
        if t.suffix_of(arm) and seed in t.SEEDS:  # (the extra seeds have no plain twin)
            twin = configs[(t.plain(arm), seed)]
            assert (cfg.algo, cfg.sources, cfg.import_datasets) == (twin.algo, twin.sources, twin.import_datasets)
    assert [a.key for a in t.arms_of(20000)] == ["real_only_anchor", "oracle_anchor"]
    assert t.baseline_of("sim_anchor") == "real_only_anchor" and t.baseline_of("sim") == "real_only"
    assert t.panel_source("real_only_anchor") == "sim_residual_anchor" and t.panel_source("oracle") == "sim_residual"
    # the weaker anchor: every arm but the shortcut, judged with the main anchored setting's panels
    assert {a.key for a in t.ARMS if t.suffix_of(a.key) == "_anchor10"} == {
        f"{a.key}_anchor10" for a in t.PLAIN if a.key != t.SHORTCUT
    }
    assert t.panel_source("real_only_anchor10") == t.panel_source("oracle_anchor10") == "sim_residual_anchor"
    assert t.panel_source("sim_anchor10") == "sim_anchor" and t.panel_source("model_anchor10") == "model_anchor"
    assert t.baseline_of("oracle_anchor10") == "real_only_anchor10" and t.plain("oracle_anchor10") == "oracle"
    # its maker gates it against the baseline at the same anchor, and its null partner
    arms = ("sim_anchor", "sim_anchor10", "real_only_anchor10")
    makers = t.panel_policies([f"{a}-s{s}" for a in arms for s in (0, 1)])
    assert {"sim_anchor10-s0", "sim_anchor10-s1", "real_only_anchor10-s0"} <= set(makers["sim_anchor-s0"])
    assert set(makers["sim_anchor-s1"]) == {"sim_anchor-s1", "sim_anchor10-s1", "real_only_anchor10-s1"}
    # the extra seeds of the weaker anchor are ranked by no panel (the seed-0 panels rank seeds 0-5)
    assert t.seeds_of("sim_sysid_anchor10") == (*t.SEEDS, 6, 7, 8, 9, 10, 11) and t.seeds_of("sim_anchor10") == t.SEEDS
    makers = t.panel_policies(["sim_sysid_anchor-s0", "sim_sysid_anchor10-s0", "sim_sysid_anchor10-s7"])
    assert makers["sim_sysid_anchor-s0"] == ["sim_sysid_anchor-s0", "sim_sysid_anchor10-s0"]
