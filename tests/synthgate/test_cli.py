"""The command line end to end: a tiny run, clear errors, and kill -9 then resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import synthgate

from pipeline import checkpoint

TINY = [
    "robot=cartpole-swingup", "algo=sac", "steps=1500", "seed=3", "learning_starts=300", "checkpoint_every=300",
    "eval_every=0", "eval_episodes=1", "log_every=100", "progress=false", "threads=1", "sac.hidden=32",
    "+robot_settings.max_episode_steps=200",
]  # fmt: skip


def test_help_and_robots_listing() -> None:
    assert "synthgate train robot=<name>" in synthgate("--help").stdout
    listing = synthgate("robots", "manipulation").stdout.splitlines()
    assert [line.split()[0] for line in listing] == ["finger-turn_hard", "manipulator-bring_ball", "reacher-hard"]


def test_errors_name_the_field_and_the_valid_values(tmp_path: Path) -> None:
    bad_robot = synthgate("train", "robot=walker-fly", f"run_dir={tmp_path}/a")
    assert bad_robot.returncode == 2
    assert "robot='walker-fly'" in bad_robot.stderr and "walker-walk" in bad_robot.stderr
    assert "Traceback" not in bad_robot.stderr
    bad_algo = synthgate("train", "algo=dreamer", f"run_dir={tmp_path}/b")
    assert bad_algo.returncode == 2 and "algo=dreamer: unknown algorithm; valid:" in bad_algo.stderr
    assert all(name in bad_algo.stderr for name in ("sac", "mbpo", "ftfl", "ftfl_norm_only", "ftfl_direct_only"))
    bad_cmd = synthgate("fly")
    assert bad_cmd.returncode == 2 and "valid commands" in bad_cmd.stderr


def _final(run_dir: Path) -> dict[str, object]:
    found = checkpoint.load_latest(run_dir / "checkpoints")
    assert found is not None
    return found[1]


def test_kill_9_then_same_command_resumes_exactly(tmp_path: Path) -> None:
    # An uninterrupted reference run.
    ref = synthgate("train", *TINY, f"run_dir={tmp_path}/ref")
    assert ref.returncode == 0, ref.stderr
    assert "done: cartpole-swingup sac seed 3: 1500 env steps" in ref.stdout
    assert (tmp_path / "ref" / "tb").is_dir() and (tmp_path / "ref" / "config.yaml").is_file()

    # The same run, killed with SIGKILL once it has checkpointed at least once.
    run_dir = tmp_path / "killed"
    cmd = [sys.executable, "-m", "synthgate", "train", *TINY, f"run_dir={run_dir}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not checkpoint.list_checkpoints(run_dir / "checkpoints"):
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    found = checkpoint.load_latest(run_dir / "checkpoints")
    assert found is not None
    at_kill = found[1]
    assert at_kill["step"] < 1500

    resumed = synthgate("train", *TINY, f"run_dir={run_dir}")
    assert resumed.returncode == 0, resumed.stderr
    assert f"at step {at_kill['step']}" in resumed.stdout + resumed.stderr

    final, reference = _final(run_dir), _final(tmp_path / "ref")
    n = int(at_kill["step"])
    for name in ("obs", "act", "rew", "next_obs", "terminated", "source", "origin", "seed"):
        torch.testing.assert_close(final["buffer"][name][:n], at_kill["buffer"][name], rtol=0, atol=0)
        torch.testing.assert_close(final["buffer"][name], reference["buffer"][name], rtol=0, atol=0)
    for key, tensor in reference["agent"]["actor"].items():
        torch.testing.assert_close(final["agent"]["actor"][key], tensor, rtol=0, atol=0)
    ref_summary = json.loads((tmp_path / "ref" / "summary.json").read_text())
    new_summary = json.loads((run_dir / "summary.json").read_text())
    assert new_summary["eval_returns"] == ref_summary["eval_returns"]


def test_resume_refuses_a_changed_config(tmp_path: Path) -> None:
    args = [a for a in TINY if not a.startswith("steps=")]
    first = synthgate("train", *args, "steps=400", f"run_dir={tmp_path}/r")
    assert first.returncode == 0, first.stderr
    changed = synthgate("train", *args, "steps=400", "sac.hidden=64", f"run_dir={tmp_path}/r")
    assert changed.returncode == 2 and "sac.hidden: 32 -> 64" in changed.stderr
    longer = synthgate("train", *args, "steps=500", f"run_dir={tmp_path}/r")
    assert longer.returncode == 0 and "500 env steps" in longer.stdout


def test_resume_command_goes_on_with_the_runs_own_config(tmp_path: Path) -> None:
    args = [a for a in TINY if not a.startswith("steps=")]
    assert synthgate("train", *args, "steps=400", f"run_dir={tmp_path}/r").returncode == 0
    # sac.hidden=32, the episode cap and the seed come from the run's config.yaml: were they the
    # defaults, the run would refuse the changed config.
    resumed = synthgate("resume", str(tmp_path / "r"), "steps=500")
    assert resumed.returncode == 0, resumed.stderr
    assert "done: cartpole-swingup sac seed 3: 500 env steps" in resumed.stdout
    seed = synthgate("resume", str(tmp_path / "r"), "seed=4")
    assert seed.returncode == 2 and "'seed=4': a resume may change only checkpoint_every_s, device" in seed.stderr
    missing = synthgate("resume", str(tmp_path / "nothing"))
    assert missing.returncode == 2 and "no config.yaml there" in missing.stderr and "Traceback" not in missing.stderr


def test_resume_accepts_a_run_made_before_a_field_was_added(tmp_path: Path) -> None:
    import yaml

    args = [a for a in TINY if not a.startswith("steps=")]
    assert synthgate("train", *args, "steps=300", f"run_dir={tmp_path}/r").returncode == 0
    config = tmp_path / "r" / "config.yaml"
    saved = yaml.safe_load(config.read_text())
    del saved["kstep"]  # as if written by a version without this field (its default is used)
    config.write_text(yaml.safe_dump(saved))
    resumed = synthgate("train", *args, "steps=350", f"run_dir={tmp_path}/r")
    assert resumed.returncode == 0, resumed.stderr
    changed = synthgate("train", *args, "steps=400", "kstep=[1,2]", f"run_dir={tmp_path}/r")
    assert changed.returncode == 2 and "kstep" in changed.stderr


def test_scenarios_listing_names_a_bad_file_and_its_field_without_a_traceback(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    """Issue 21, item 5: one bad file in the library does not hide the good ones or end in a traceback."""
    import shutil

    import scenarios.library
    from synthgate.cli import main

    library = tmp_path / "library"
    shutil.copytree(scenarios.library.LIBRARY, library)
    text = (library / "slippery_floor.yaml").read_text().replace("slippery_floor", "negative_floor")
    (library / "negative_floor.yaml").write_text(text.replace("{uniform: [0.1, 0.3]}", "{uniform: [-0.3, -0.1]}"))
    monkeypatch.setattr(scenarios.library, "LIBRARY", library)
    try:
        code = main(["scenarios"])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    assert code == 2
    listed = [line.split()[0] for line in out.splitlines()]
    assert listed == sorted(p.stem for p in library.glob("*.yaml") if p.stem != "negative_floor")
    [line] = err.splitlines()  # one line for the one bad file
    where = f"{library / 'negative_floor.yaml'}: perturbations[0].params.scale: "
    assert line.startswith(f"synthgate scenarios: error: {where}") and "is not physical" in line, err


def test_users_own_scenarios_are_listed_and_taken_by_path(tmp_path: Path) -> None:
    """Issue 21, item 6: a scenario file kept with the user's project, by path or by directory."""
    import scenarios.library

    mine = tmp_path / "my_scenarios"
    mine.mkdir()
    text = (scenarios.library.LIBRARY / "push_recovery.yaml").read_text().replace("push_recovery", "gentle_push")
    (mine / "gentle_push.yaml").write_text(text)
    by_path = synthgate("train", "robot=walker-walk", f"scenarios=[{mine / 'gentle_push.yaml'}]", "--check")
    assert by_path.returncode == 0, by_path.stderr
    env = {**os.environ, "SYNTHGATE_SCENARIO_PATH": str(mine)}
    cmd = [sys.executable, "-m", "synthgate"]
    listing = subprocess.run([*cmd, "scenarios"], capture_output=True, text=True, env=env, timeout=120)
    assert listing.returncode == 0 and f"({mine / 'gentle_push.yaml'})" in listing.stdout
    by_name = subprocess.run([*cmd, "train", "robot=walker-walk", "scenarios=[gentle_push]", "--check"],
                             capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert by_name.returncode == 0, by_name.stderr
    (mine / "gentle_push.yaml").write_text(text.replace("predicate: fell", "predicate: exploded"))
    broken = subprocess.run([*cmd, "train", "robot=walker-walk", "scenarios=[gentle_push]", "--check"],
                            capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert broken.returncode == 2 and f"{mine / 'gentle_push.yaml'}: predicate:" in broken.stderr
    assert "Traceback" not in broken.stderr


def test_a_scenario_taken_by_path_trains_and_is_booked_under_its_name(tmp_path: Path) -> None:
    """A user's scenario file by path, with real exposure: it used to stop with "no perturbations were
    given" (the run's exposures are keyed by the scenario's name, the config held the path)."""
    import scenarios.library

    text = (scenarios.library.LIBRARY / "push_recovery.yaml").read_text().replace("push_recovery", "gentle_push")
    (tmp_path / "gentle_push.yaml").write_text(text)
    run = tmp_path / "run"
    done = synthgate("train", "robot=walker-walk", f"scenarios=[{tmp_path / 'gentle_push.yaml'}]", "exposure=0.5",
                     "steps=200", "learning_starts=100", "eval_every=0", "progress=false", "threads=1",
                     "sac.hidden=16", "+robot_settings.max_episode_steps=50", f"run_dir={run}")  # fmt: skip
    assert done.returncode == 0, done.stderr
    booked = json.loads((run / "summary.json").read_text())["ledger"]["generated_by_origin"]
    assert booked["real:walker-walk/plant:gentle_push"] > 0 and sum(booked.values()) == 200, booked


def test_help_lists_every_key_with_its_description() -> None:
    """Issue 21, item 10: the keys and their one-line docs, not Hydra's config dump."""
    train = synthgate("train", "--help")
    assert train.returncode == 0 and "powered by Hydra" not in train.stdout
    lines = train.stdout.splitlines()
    assert any(line.split() == ["algo.model.members=7", "Ensemble", "members."] for line in lines)
    assert any(line.startswith("  algo=ftfl_beta_nll ") for line in lines)
    assert any(line.split()[:2] == ["sac.hidden=256", "Width"] for line in lines)
    run = synthgate("run", "--help")
    assert any(
        line.split()[:6] == ["seeds=[0,", "1,", "2]", "Training", "seeds", "of"] for line in run.stdout.splitlines()
    )
    stress = synthgate("stress", "--help")
    assert any(line.split()[:2] == ["samples=400", "Points"] for line in stress.stdout.splitlines())


def test_train_composes_and_checks_its_config_once(tmp_path: Path, monkeypatch: Any) -> None:
    """Issue 20: the config preflight composed and checked is the one trained; Hydra is not entered
    a second time to compose (and import datasets) again."""
    from pipeline.config import TrainConfig
    from synthgate import cli, preflight

    composed: list[Any] = []
    executed: list[Any] = []
    original = preflight.compose
    monkeypatch.setattr(preflight, "compose", lambda overrides: composed.append(original(overrides)) or composed[-1])
    monkeypatch.setattr(cli, "_execute", lambda config, command="train": executed.append(config))
    monkeypatch.setattr(cli, "_train", lambda: pytest.fail("entered @hydra.main to compose the config again"))
    assert cli.main(["train", "robot=cartpole-swingup", "steps=10", "sac.hidden=8", f"run_dir={tmp_path}/r"]) == 0
    assert len(composed) == 1 and executed == composed and isinstance(executed[0], TrainConfig)
    assert executed[0].sac.hidden == 8


def test_progress_in_a_redirected_log_is_plain_lines(tmp_path: Path) -> None:
    """Issue 21, item 8: with stderr not a terminal (a log file, a pipe) the progress bar writes
    whole lines at a coarse interval, never carriage returns."""
    args = [
        "train", "robot=pendulum-swingup", "algo=sac", "steps=120", "learning_starts=100", "eval_every=0",
        "eval_episodes=1", "threads=1", "sac.hidden=16", "sac.batch_size=32", "+robot_settings.max_episode_steps=60",
        "progress=true", f"run_dir={tmp_path / 'run'}",
    ]  # fmt: skip
    # bytes, not text: text mode would turn each carriage return into a newline
    trained = subprocess.run([sys.executable, "-m", "synthgate", *args], capture_output=True, timeout=300, check=False)
    stderr = trained.stderr.decode()
    assert trained.returncode == 0, stderr
    assert b"\r" not in trained.stderr and b"\r" not in trained.stdout, stderr
    progress = [line for line in stderr.splitlines() if line.startswith("progress: ")]
    assert progress and progress[-1].startswith("progress: step 120/120 (100%)"), stderr


@pytest.mark.parametrize("command", ["report", "ledger", "deploy", "robots", "scenarios", "sweep"])
def test_help_prints_the_commands_usage_instead_of_reading_it_as_a_path(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from synthgate.cli import main

    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"synthgate {command} ") and "error" not in out


def test_train_takes_the_quick_preset_and_the_users_own_keys_win(tmp_path: Path) -> None:
    from synthgate.cli import _train_preset
    from synthgate.run_job import QUICK

    assert _train_preset(["preset=quick", "sac.hidden=32"]) == [*QUICK, "sac.hidden=32"]
    assert _train_preset(["preset=full", "steps=5"]) == ["steps=5"]
    assert _train_preset(["steps=5"]) == ["steps=5"]
    run_dir = tmp_path / "run"
    done = synthgate("train", "robot=cartpole-swingup", "algo=sac", "preset=quick", "sac.hidden=32", "steps=1200",
                     "eval_episodes=1", "progress=false", f"run_dir={run_dir}", "--check")  # fmt: skip
    assert done.returncode == 0, done.stderr
    bad = synthgate("train", "robot=cartpole-swingup", "preset=tiny", f"run_dir={run_dir}")
    assert bad.returncode == 2 and "preset='tiny'" in bad.stderr and "Traceback" not in bad.stderr


def test_gaps_lists_each_profile_with_what_it_changes_and_a_bad_file_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 31, item 1: ``synthgate gaps [robot]``."""
    from robots import gaps
    from synthgate.cli import main

    assert main(["gaps", "Hopper-v5"]) == 0
    out = capsys.readouterr().out
    tags = [line.split()[1] for line in out.splitlines() if line.startswith("Hopper-v5")]
    assert [t.split("@")[0] for t in tags] == ["none", "default", "hard"]
    assert "actuator_scale(actuator=thigh_joint, scale=0.9869)" in out and "torque_speed all: torque falls" in out
    mine = tmp_path / "Hopper-v5"
    mine.mkdir()
    text = (gaps.LIBRARY / "Hopper-v5" / "default.yaml").read_text().replace("name: default", "name: broken")
    (mine / "broken.yaml").write_text(re.sub(r"width: [0-9.]+", "width: 1.5", text))  # whatever it was
    monkeypatch.setenv(gaps.PATH_ENV, str(tmp_path))
    try:
        code = main(["gaps", "Hopper-v5"])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    assert code == 2 and out.count("Hopper-v5 ") == 3
    [line] = err.splitlines()
    assert line.startswith(
        f"synthgate gaps: error: {mine / 'broken.yaml'}: unmodeled[0].params.width: 1.5 is not physical"
    )


def test_a_runs_messages_print_in_the_commands_style_not_as_raw_log_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 34: under ``synthgate run`` a training run's "new run ..." printed as
    ``INFO:synthgate.train:new run ...`` (importing dm_control.suite installs a root log handler)."""
    import logging

    import dm_control.suite  # noqa: F401 - the import that installs the root handler

    from pipeline.runfiles import run_log_file
    from synthgate.cli import user_log

    owner = logging.getLogger("synthgate")
    saved = (list(owner.handlers), owner.propagate)
    try:
        user_log()
        with run_log_file(tmp_path / "run"):
            logging.getLogger("synthgate.train").info("new run %s", "runs/x")
            logging.getLogger("synthgate.train").warning("steps=300 <= learning_starts=1000")
        out, err = capsys.readouterr()
        assert out.splitlines() == ["  new run runs/x", "  warning: steps=300 <= learning_starts=1000"]
        assert "INFO:" not in out + err and "WARNING:" not in out + err
        assert "new run runs/x" in (tmp_path / "run" / "train.log").read_text()  # the run's log keeps it
    finally:
        owner.handlers[:], owner.propagate = saved
