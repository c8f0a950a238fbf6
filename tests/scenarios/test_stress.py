"""``synthgate stress`` end to end on a tiny run: the report, its determinism, and clear errors."""

from __future__ import annotations

import dataclasses
import json
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import synthgate

from pipeline.config import ALGORITHMS, DEFAULT_WORLD_MODEL
from scenarios.stress import Space, StressConfig, StressError, stress
from synthgate.cli import main

TINY_RUN = [
    "robot=Hopper-v5", "algo=sac", "steps=300", "seed=1", "learning_starts=100", "eval_every=0", "eval_episodes=1",
    "progress=false", "threads=1", "sac.hidden=32", "checkpoint_every=300", "+robot_settings.max_episode_steps=50",
]  # fmt: skip
TINY_SEARCH = {"horizon": 25, "fit_episodes": 2, "fit_epochs": 2, "run_transitions": 100, "samples": 16, "adapt": 2,
               "iterations": 2, "rollouts": 2, "confirm": 2, "episodes": 4}  # fmt: skip


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stress") / "run"
    out = synthgate("train", *TINY_RUN, f"run_dir={path}")
    assert out.returncode == 0, out.stderr
    return path


def test_smoke_report_counts_every_plant_episode_and_is_seeded(run_dir: Path, tmp_path: Path) -> None:
    conf = StressConfig(scenario="hopper_push", out=str(tmp_path / "a.json"), **TINY_SEARCH)  # type: ignore[arg-type]
    report = stress(run_dir, conf, log=lambda _: None)
    saved = json.loads((tmp_path / "a.json").read_text())
    assert saved["scenario"] == "hopper_push" and saved["robot"] == "Hopper-v5"
    assert saved["world_model"]["source"] == "fitted for this stress search"  # a SAC run has no model
    spec = ALGORITHMS[DEFAULT_WORLD_MODEL]  # so the search fits the project's default world model
    want = {"preset": DEFAULT_WORLD_MODEL, "target": spec.target, "target_norm": spec.target_norm,
            "likelihood": spec.likelihood}  # fmt: skip
    assert saved["world_model"]["settings"] == want
    pe = saved["plant_episodes"]
    assert (pe["model_data"], pe["confirmation"], pe["estimate"]) == (2, 2, 4)
    assert pe["total"] == 8
    est = saved["estimate"]
    assert est["n"] == 4 and 0.0 <= est["ci95"][0] <= est["p"] <= est["ci95"][1]
    assert [r["before"] for r in est["refits"]] == ["stage 1", "stage 2"]  # confirmation, then stage 1 (adapt=2)
    assert all(isinstance(c["plant_least_margin"], float) for c in saved["confirmation"]["candidates"])
    # the second confirmation follows the plant margins of the two model-data episodes and the first
    assert [c["picked_by"] for c in saved["confirmation"]["candidates"]] == ["model", "plant margin fit"]
    mvp = saved["model_vs_plant"]
    assert sum(mvp[k] for k in mvp if k.startswith("model_")) == mvp["episodes"] == 6
    assert saved["search"]["model_episodes"] >= 16 * 2
    assert [d["name"] for d in saved["space"]] == ["push[0].force", "payload[1].mass"]
    # Same seed, same report (apart from the wall clock and where it was written).
    again = stress(run_dir, dataclasses.replace(conf, out=str(tmp_path / "b.json")), log=lambda _: None)
    for r in (report, again):
        r.pop("seconds"), r.pop("path"), r["config"].pop("out")
    assert again == report


def test_cli_prints_the_table_and_writes_into_the_run(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [f"{k}={v}" for k, v in TINY_SEARCH.items()]
    assert main(["stress", str(run_dir), "scenario=hopper_push", "seed=3", *args]) == 0
    out = capsys.readouterr().out
    assert "confirmation rate" in out and "failure probability" in out and "plant episodes" in out
    assert (run_dir / "stress" / "hopper_push-s3.json").is_file()


def test_a_model_based_run_with_context_for_the_scenario_lends_its_model(tmp_path: Path) -> None:
    run = tmp_path / "ftfl"
    out = synthgate(
        "train", "robot=Hopper-v5", "algo=ftfl", "steps=200", "seed=2", "learning_starts=100", "eval_every=0",
        "eval_episodes=1", "progress=false", "threads=1", "sac.hidden=32", "checkpoint_every=200", "algo.utd=1",
        "algo.retrain_every=100", "algo.rollouts_per_step=4", "algo.model.hidden=16", "algo.model.depth=1",
        "algo.model.weight_decay=[0.0,0.0]", "algo.model.max_epochs=2", "algo.model.members=3", "algo.model.elites=2",
        "+robot_settings.max_episode_steps=40", "context=true", "scenarios=[hopper_push]", "exposure=0.5",
        f"run_dir={run}",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    conf = StressConfig(scenario="hopper_push", model="run", out=str(tmp_path / "r.json"), **TINY_SEARCH)  # type: ignore[arg-type]
    report = stress(run, conf, log=lambda _: None)
    assert report["world_model"]["source"] == "the run's checkpointed model"
    assert report["world_model"]["settings"]["preset"] == "ftfl"  # the run's own, not the default
    assert report["plant_episodes"]["model_data"] == 0
    # The SAC run of the other tests has no model: model=run is refused there (see below), auto fits one.


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scenario=no_such"], "unknown scenario 'no_such'; valid:"),
        (["scenario=push_recovery"], "is a scenario of walker-walk, but this run's policy drives Hopper-v5"),
        (["scenario=hopper_push", "samples=many"], "samples='many': must be an integer"),
        (["scenario=hopper_push", "colour=red"], "unknown option 'colour'; valid:"),
        (["scenario=hopper_push", "model=run"], "model=run:"),
        ([], "scenario=<name> is required"),
    ],
)
def test_errors_name_the_field_and_the_options(
    run_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["stress", str(run_dir), *args]) == 2
    err = capsys.readouterr().err
    assert message in err, err


def test_a_directory_that_is_not_a_run_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stress", str(tmp_path), "scenario=hopper_push"]) == 2
    assert "a synthgate run directory?" in capsys.readouterr().err


def test_space_maps_unit_points_onto_the_scenarios_own_values() -> None:
    from scenarios.library import get

    space = Space(get("hopper_push"))
    perts = space.perturbations(np.array([0.5, 0.25]), np.zeros(0, int))
    assert perts[0].params["force"] == pytest.approx(0.48) and perts[1].params["mass"] == pytest.approx(2.0)
    assert perts[0].params["direction"] == (-1.0, 0.0, 0.0) and perts[0].trigger.step == 20
    with pytest.raises(StressError, match="no random parameter"):
        Space(dataclasses.replace(get("hopper_push"), perturbations=(perts[1],)))


def test_model_failures_measure_how_near_the_rollouts_that_do_not_fail_come() -> None:
    """A stub model that drifts the first state column up by 0.1 per step; failure when it exceeds 1.05.
    From 0 (margin 1.05), in 5 steps the least margin is 0.55: nearness 1 - 0.55/1.05; in 12 steps
    every rollout fails (at step 11): share 1, earliness 1 - 11/12, nearness 0."""
    import torch

    from scenarios.stress import model_failures

    class Drift:
        def step(
            self, obs: torch.Tensor, act: torch.Tensor, generator: torch.Generator, ctx: torch.Tensor, **_: Any
        ) -> Any:
            nxt = obs + torch.tensor([0.1, 0.0])
            ok = torch.ones(obs.shape[0], dtype=torch.bool)
            return types.SimpleNamespace(next_obs=nxt, valid=ok, terminated=~ok)

    class Still:
        def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
            return torch.zeros(obs.shape[0], 1)

    starts = torch.zeros(4, 2)
    ctx = np.zeros((3, 1), np.float32)
    args = (Drift(), Still(), lambda o: o[:, 0] > 1.05, ctx, [], starts, 2)
    gen = torch.Generator().manual_seed(0)
    share, early, near, _ = model_failures(*args, 5, gen, noise=True, margin=lambda o: 1.05 - o[:, 0])  # type: ignore[arg-type]
    np.testing.assert_allclose(share, 0.0)
    np.testing.assert_allclose(near, 1.0 - 0.55 / 1.05, rtol=1e-5)
    share, early, near, _ = model_failures(*args, 12, gen, noise=True, margin=lambda o: 1.05 - o[:, 0])  # type: ignore[arg-type]
    np.testing.assert_allclose(share, 1.0)
    np.testing.assert_allclose(early, 1.0 - 11 / 12, rtol=1e-5)
    np.testing.assert_allclose(near, 0.0)
    _, _, near, _ = model_failures(*args, 5, gen, noise=True)  # type: ignore[arg-type]
    np.testing.assert_allclose(near, 0.0)  # without a margin: no nearness


def test_plant_elites_are_the_failures_else_the_nearest_share() -> None:
    from scenarios.stress import plant_elites

    failed = np.array([False, True, False, False])
    least = np.array([0.3, -0.1, 0.05, 0.2])
    hit, why = plant_elites(failed, least, 0.5)
    assert hit.tolist() == failed.tolist() and why == "plant failures"
    hit, why = plant_elites(np.zeros(4, bool), least, 0.5)  # none failed: the nearest half
    assert hit.tolist() == [False, True, True, False] and why == "nearest to failing on the plant"
    hit, _ = plant_elites(np.zeros(4, bool), least, 0.01)  # at least one
    assert hit.tolist() == [False, True, False, False]
    hit, why = plant_elites(np.zeros(4, bool), None, 0.5)  # no margins: nothing to refit to
    assert not hit.any() and why == "none"
