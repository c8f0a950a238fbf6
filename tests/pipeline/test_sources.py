"""The synthetic-source registry and its refusals (issue 31, item 8); the sources' run, ledger and
exact resume are in ``tests/synthgate/test_sim_to_real.py``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from pipeline import sources
from pipeline.config import ConfigError, TrainConfig, validate
from pipeline.ledger import scenario_of, synthetic_source_of
from pipeline.sim_env import SimEnv


def _cfg(**kw: object) -> TrainConfig:
    return dataclasses.replace(TrainConfig(robot="Hopper-v5", steps=100, learning_starts=10), **kw)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"sources": ["sim_magic"]}, "sources: 'sim_magic' is not a source that steps the sim; valid: sim, sim_sysid"),
        ({"sources": ["sim", "sim"]}, "sources=['sim', 'sim']: a source is listed twice"),
        ({"sources": ["sim"], "plant": "sim"}, "sources=['sim'] with plant=sim: sources learn from"),
        ({"sources": ["sim"], "robot": "walker-walk"}, "walker-walk: the sim can only be stepped from observed states"),
        ({"synthetic_shares": {"sim_residual": 1.0}}, "synthetic_shares.sim_residual: not in this run's sources=[]"),
        ({"sources": ["sim_sysid"], "sysid_evals": 0}, "sysid_evals=0: must be an integer >= 1"),
        ({"targeted": True, "scenarios": ["hopper_heavy_torso"]}, "targeted=true needs a source to generate with"),
    ],
)
def test_a_source_the_run_cannot_have_is_refused_before_any_work(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate(_cfg(**kw))
    assert message in str(err.value)


def test_targeted_sim_sources_need_no_context_but_the_world_model_does() -> None:
    validate(_cfg(sources=["sim_residual"], targeted=True, scenarios=["hopper_heavy_torso"]))
    with pytest.raises(ConfigError, match="needs context=true"):
        validate(_cfg(targeted=True, scenarios=["hopper_heavy_torso"], algo=dataclasses.replace(
            TrainConfig().algo, name="ftfl", model_based=True)))  # fmt: skip


def test_every_source_origin_names_its_source_and_scenario() -> None:
    for origin, source, scenario in [
        ("model/ab12cd34ef56:hopper_push", "model", "hopper_push"),
        ("sim/Hopper-v5", "sim", "nominal"),
        ("sim_sysid/1a2b3c4d:hopper_weak_thigh", "sim_sysid", "hopper_weak_thigh"),
        ("sim_residual/ab12cd34ef56", "sim_residual", "nominal"),
        ("generated:cosmos@1.0:hopper_push", "generated:cosmos@1.0", "hopper_push"),
    ]:
        assert (synthetic_source_of(origin), scenario_of(origin)) == (source, scenario), origin
    assert set(sources.SIM_SOURCES) < set(sources.SOURCES)


def test_the_sim_env_steps_each_row_under_its_own_drawn_physics() -> None:
    """Rows carry the index of their physics in context column 0: a heavy torso and the nominal sim
    give different next states from the same state and action, each equal to stepping alone."""
    env = SimEnv("Hopper-v5", drop_range_factor=1.0)
    env.use([[{"family": "payload", "body": "torso", "mass": 6.0}], []])
    rng = np.random.default_rng(0)
    row = rng.normal(0, 0.05, 11).astype(np.float32)
    row[0] += 1.25  # the torso's height: a standing hopper
    obs = torch.as_tensor(np.tile(row, (2, 1)))
    act = torch.full((2, 3), 0.5)
    gen = torch.Generator().manual_seed(0)
    both = env.step(obs, act, gen, torch.tensor([[0.0], [1.0]]))
    alone = [env.step(obs[i : i + 1], act[i : i + 1], gen, torch.tensor([[float(i)]])).next_obs[0] for i in range(2)]
    assert not torch.equal(both.next_obs[0], both.next_obs[1])
    assert torch.equal(both.next_obs[0], alone[0]) and torch.equal(both.next_obs[1], alone[1])
    nominal = env.step(obs[1:], act[1:], gen).next_obs[0]
    assert torch.equal(nominal, both.next_obs[1])
    assert bool(both.valid.all()) and float(both.disagreement.abs().sum()) == 0.0
