"""Config validation: every bad value is named with what is allowed."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.config import ConfigError, TrainConfig, flat_items, sac_hyper, validate


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"robot": "walker-fly"}, r"robot='walker-fly'.*valid robots: .*walker-walk"),
        ({"steps": 0}, r"steps=0: must be > 0"),
        ({"learning_starts": -1}, r"learning_starts=-1: must be >= 0"),
        ({"device": "tpu"}, r"device='tpu'.*auto, cpu, cuda"),
        ({"robot_settings": {"gravity": 3}}, r"robot_settings.*gravity.*max_episode_steps"),
    ],
)
def test_bad_values_are_named(change: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate(dataclasses.replace(TrainConfig(), **change))  # type: ignore[arg-type]


def test_bad_nested_values_are_named() -> None:
    cfg = TrainConfig()
    cfg.algo.name = "dreamer"
    with pytest.raises(
        ConfigError,
        match=r"algo.name='dreamer'.*valid: ftfl, ftfl_beta_nll, ftfl_direct_only, ftfl_norm_only, mbpo, sac",
    ):
        validate(cfg)
    cfg = TrainConfig()
    cfg.sac.gamma = 1.0
    with pytest.raises(ConfigError, match=r"sac.gamma=1.0: must be in \[0, 1\)"):
        validate(cfg)
    cfg = TrainConfig()
    cfg.sac.anchor = 1.0
    with pytest.raises(ConfigError, match=r"sac\.anchor=1\.0: anchors the actor to the starting policy; set init_from"):
        validate(cfg)
    cfg.robot, cfg.init_from, cfg.sac.anchor = "Hopper-v5", "shipped", -1.0
    with pytest.raises(ConfigError, match=r"sac\.anchor=-1\.0"):
        validate(cfg)


def test_defaults_validate_and_derive() -> None:
    cfg = TrainConfig()
    validate(cfg)
    assert sac_hyper(cfg.sac, action_dim=6).target_entropy == -6.0
    flat = flat_items(cfg)
    assert flat["sac.batch_size"] == 256 and flat["algo.name"] == "sac" and flat["robot_settings"] == {}


def test_presets_are_the_registry_and_contradictions_are_refused() -> None:
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    import synthgate.cli  # noqa: F401 - registers the schema and the algo group, made from ALGORITHMS
    from pipeline.config import ALGORITHMS

    with initialize_config_module("synthgate.conf", version_base="1.3"):
        for name, spec in ALGORITHMS.items():
            cfg = OmegaConf.to_object(compose("train", overrides=[f"algo={name}"]))
            assert isinstance(cfg, TrainConfig)
            algo = cfg.algo
            assert (algo.name, algo.model_based, algo.utd) == (name, spec.model_based, spec.utd)
            if spec.model_based:
                assert (algo.target, algo.target_norm, algo.model.likelihood) == (
                    spec.target, spec.target_norm, spec.likelihood)  # fmt: skip
            validate(cfg)  # a preset never contradicts itself
    cfg = TrainConfig()
    cfg.algo.name, cfg.algo.model_based = "ftfl", True
    cfg.algo.model.likelihood = "beta_nll"
    with pytest.raises(ConfigError, match=r"algo.model.likelihood='beta_nll' contradicts algo=ftfl.*ftfl_beta_nll"):
        validate(cfg)
    cfg = TrainConfig()
    cfg.algo.name, cfg.algo.model_based, cfg.algo.target, cfg.algo.target_norm = "mbpo", True, "direct", "joint"
    with pytest.raises(ConfigError, match=r"algo.target='direct' contradicts algo=mbpo.*ftfl_direct_only"):
        validate(cfg)


def test_rollout_schedule() -> None:
    from pipeline.config import rollout_length

    assert [rollout_length([20, 150, 1, 15], s) for s in (0, 20_999, 85_000, 150_000, 400_000)] == [1, 1, 8, 15, 15]
    assert rollout_length([20, 150, 1, 1], 99_000) == 1


def test_an_unknown_holdout_kind_is_named() -> None:
    cfg = TrainConfig()
    cfg.algo.model.holdout = "sliding"
    with pytest.raises(ConfigError, match=r"algo.model.holdout='sliding'; valid: redraw, fixed"):
        validate(cfg)
