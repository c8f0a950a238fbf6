"""``synthgate run``: the main job end to end on a tiny budget (train both arms, panels, gate,
reports, the deploy phase's decision), and its input errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import synthgate

from robots.lerobot_format import read_dataset
from synthgate.run_job import parse
from validation.report import read_report

TINY = [
    "steps=600", "seeds=1", "episodes=4", "max_steps=60", "learning_starts=200", "eval_every=300",
    "eval_episodes=1", "checkpoint_every=300", "algo.retrain_every=200", "algo.rollouts_per_step=10",
    "algo.model.max_epochs=3", "algo.model.hidden=16", "sysid_evals=8", "+robot_settings.max_episode_steps=60",
]  # fmt: skip
"""The embedded default's flow (the default gap, the shipped starting policy, the sim_residual
candidate) on a tiny budget."""


def test_main_job_end_to_end_on_a_tiny_budget(tmp_path: Path) -> None:
    out = tmp_path / "main"
    run = synthgate("run", f"out={out}", *TINY, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    for phase in ("[1/4] train", "[2/4] validate", "[3/4] deploy", "[4/4] summary"):
        assert phase in run.stdout
    # issue 21, item 8: the validate phase says what it is doing, and each run has its train.log
    assert "real panel 6/6: hopper_weak_thigh, real_only-s0: 4 episodes, mean return" in run.stdout
    assert "synthetic panel: done in" in run.stdout
    assert "synthetic panel: 2 policies x 3 conditions through sim_residual" in run.stdout
    assert all((out / "runs" / f"{arm}-s0" / "train.log").is_file() for arm in ("real_only", "sim_residual"))
    report = read_report(out / "runs" / "sim_residual-s0" / "validation" / "gate_report.json")  # schema-checked
    assert report["synthetic_model"] == "sim_residual-s0 (sim_residual)" and "sim" in report["panels"]
    assert report["decision"] in ("PROMOTE", "REJECT")
    assert f"decision:    {report['decision']}" in run.stdout
    for name in report["failed_rules"]:  # every failed rule is printed by name
        assert name in run.stdout
    assert (out / "runs" / "sim_residual-s0" / "validation" / "report.html").is_file()
    assert set(report["arms_table"]["nominal"]["arms"]) == {"baseline (real_only)", "candidate (sim_residual)"}
    summaries = {arm: json.loads((out / "runs" / f"{arm}-s0" / "summary.json").read_text()) for arm in
                 ("real_only", "sim_residual")}  # fmt: skip
    assert summaries["real_only"]["steps"] == summaries["sim_residual"]["steps"] == 600  # the same real budget
    for arm in ("real_only", "sim_residual"):  # fine-tuning the shipped policy: issue 32's anchored setting
        sac = yaml.safe_load((out / "runs" / f"{arm}-s0" / "config.yaml").read_text())["sac"]
        assert (sac["anchor"], sac["lr_actor"], sac["lr_critic"]) == (100.0, 1e-5, 1e-4)
    assert summaries["sim_residual"]["ledger"]["by_synthetic_source"]["sim_residual"]["consumed"] > 0
    # the candidate's real-panel episodes export as a LeRobot dataset, each the episode the gate scored
    data = tmp_path / "panels"
    exported = synthgate("export", str(out / "runs" / "sim_residual-s0"), "--what", "panels", "--out", str(data))
    assert exported.returncode == 0, exported.stderr
    ds = read_dataset(data)
    assert len(ds.episode_bounds) == 3 * 4  # nominal + 2 scenarios, 4 episodes each
    plant = ds.info["synthgate"]["origins"][0]
    assert plant.startswith("Hopper-v5[default@") and plant.endswith("]/plant")
    assert ds.info["synthgate"]["origins"] == [plant, f"{plant}:hopper_heavy_torso", f"{plant}:hopper_weak_thigh"]
    scored = report["panels"]["real"]["policies"]["sim_residual-s0"]["nominal"]["values"]  # metric: return
    returns = [float(ds.frames["next.reward"][lo:hi].sum()) for lo, hi in ds.episode_bounds[:4]]
    np.testing.assert_allclose(returns, scored, rtol=0, atol=1e-3)  # float32 rewards summed
    if report["decision"] == "REJECT":
        assert "not exported: the gate rejected the candidate" in run.stdout and not (out / "bundle").exists()
    else:
        assert (out / "bundle" / "manifest.json").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["preset=huge"], "preset='huge'; valid: quick, full"),
        (["seeds=0"], "need seeds >= 1"),
        (["scenarios=[]"], "scenarios=[...] is empty"),
        (["scenario=[a,b]"], "scenario= takes one name"),
        (["seed=3"], "run_dir, seed and algo are set by the job"),
        (["seeds=two"], "seeds"),
        (["executor=dask"], "executor='dask', workers=1: executor must be one of local, ray"),
        (["workers=0"], "workers >= 1"),
        (["candidate=real_only"], "candidate='real_only': valid: synthetic_only, mixed"),
        (["candidate=generated"], "candidate=generated: synthgate run imports no generated data"),
    ],
)
def test_bad_job_options_are_clear_errors(args: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        parse(args)


def test_scenario_names_one_and_defaults() -> None:
    assert parse(["scenario=push_recovery", "robot=walker-walk"])[0].scenarios == ["push_recovery"]
    cfg, passed, gate = parse(["scenarios=[push_recovery,slippery_floor]", "robot=walker-walk", "preset=full",
                               "algo.utd=10", "gate.max_mmrv=0.2"])  # fmt: skip
    assert cfg.scenarios == ["push_recovery", "slippery_floor"] and cfg.steps == 100_000
    assert passed == ["algo.utd=10"] and gate == ["max_mmrv=0.2"]
    assert parse([])[0].steps == 3000
    cfg = parse(["executor=ray", "workers=2", "ray.address=auto"])[0]
    assert (cfg.executor, cfg.workers, cfg.ray_address) == ("ray", 2, "auto")


def test_seeds_is_a_list_of_seeds_and_a_count_is_shorthand() -> None:
    """Issue 20: ``seeds`` has one type wherever it is a key (synthgate run and synthgate arms)."""
    from synthgate.preflight import seed_list
    from validation.arms import ArmsConfig

    assert parse([])[0].seeds == [0, 1, 2]
    assert parse(["seeds=3"])[0].seeds == [0, 1, 2] and parse(["seeds=[4,7]"])[0].seeds == [4, 7]
    assert isinstance(ArmsConfig().seeds, list) and seed_list("seeds=2") == "seeds=[0,1]"
    assert seed_list("steps=2") == "steps=2" and seed_list("seeds=[1]") == "seeds=[1]"
    with pytest.raises(ValueError, match=r"seeds=\[1, 1\]: need seeds >= 1 distinct"):
        parse(["seeds=[1,1]"])


def test_unknown_scenario_of_another_robot_is_refused(tmp_path: Path) -> None:
    run = synthgate("run", f"out={tmp_path}", "scenario=push_recovery")  # a walker-walk scenario
    assert run.returncode == 2 and "push_recovery is a scenario of walker-walk, not of robot=Hopper-v5" in run.stderr


def _main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``synthgate run args`` in this process (saves a subprocess start): (exit status, stderr)."""
    from synthgate.cli import main

    try:
        code = main(["run", *args])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "wanted", "unwanted"),
    [  # issue 21, item 7: the field, a did-you-mean and the valid values, as synthgate train says them
        (["robot=nope"], ["robot='nope': unknown robot", "valid robots: Ant-v5, HalfCheetah-v5"], ["is a scenario"]),
        (["robot=hoper-v5"], ["robot='hoper-v5': unknown robot (did you mean Hopper-v5"], ["is a scenario"]),
        (
            ["seedz=3"],
            ["seedz=3: no such key (did you mean seeds?)", "valid keys: ", "deploy_episodes"],
            ["+seedz", "seed,"],
        ),
        (["steps=abc"], ["steps=abc: ", "could not be converted to Integer"], ["object_type", "full_key"]),
        (["sac.hiden=3"], ["sac.hiden=3: no such field (did you mean sac.hidden?)"], ["+sac.hiden"]),
    ],
)
def test_run_errors_name_the_field_like_train_does(
    args: list[str], wanted: list[str], unwanted: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _main([f"out={tmp_path}", *args], capsys)
    assert code == 2 and err.startswith("synthgate run: error: ") and len(err.strip().splitlines()) == 1, err
    assert all(w in err for w in wanted), err
    assert not any(u in err for u in unwanted), err
    assert not (tmp_path / "runs").exists()  # refused before any work
