"""The two plant roles end to end (issue 31): a policy trained in the sim (its transitions booked as
``sim``), written as a starting policy, and a run on the real plant (a gap profile) started from it,
whose ledger books what its buffers hold, after a run and after ``kill -9`` and a resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from helpers import books_and_buffers, synthgate
from kill_harness import assert_same_run, run_with_kills

TINY = [
    "robot=Hopper-v5", "sac.hidden=16", "sac.batch_size=32", "+robot_settings.max_episode_steps=100",
    "checkpoint_every=100", "log_every=50", "eval_every=0", "eval_episodes=1", "progress=false", "threads=1",
]  # fmt: skip


@pytest.fixture(scope="module")
def sim_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sim")
    done = synthgate("train", *TINY, "plant=sim", "steps=300", "learning_starts=100", f"run_dir={root / 'run'}")
    assert done.returncode == 0, done.stderr
    done = synthgate("policy", str(root / "run"), "--out", str(root / "policy"), "--episodes", "4")
    assert done.returncode == 0, done.stderr
    return root


def test_a_sim_run_books_its_transitions_as_sim_never_as_real(sim_policy: Path) -> None:
    _, books, held = books_and_buffers(sim_policy / "run")
    assert books == held == {("synthetic", "sim/Hopper-v5"): 300}
    manifest = json.loads((sim_policy / "policy" / "manifest.json").read_text())
    assert manifest["commands"][0].startswith("synthgate train robot=Hopper-v5 plant=sim ")
    assert manifest["sim_steps"] == 300 and manifest["sim"]["episodes"] == 4 and manifest["bytes"] < 1_100_000
    assert synthgate("policy", str(sim_policy / "run"), "--out", str(sim_policy / "again"), "--episodes", "4").stdout \
        .split("sha256 ")[1].strip() == manifest["sha256"][:12]  # fmt: skip


def test_a_policy_fine_tuned_in_a_randomized_sim_records_the_whole_chain(sim_policy: Path, tmp_path: Path) -> None:
    """A sim run started from a policy, taken at an earlier checkpoint: its manifest holds the commands
    that made the start (their output renamed ``<start>``), then its own with
    ``init_from=<start>/policy.pt`` and the steps of the checkpoint taken, the sim steps of both, the
    start's sha256, and a scenario from the user's directory with that directory named."""
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "dr_mass.yaml").write_text(
        "name: dr_mass\nrobot: Hopper-v5\nperturbations:\n"
        "  - {family: mass_scale, params: {body: torso, scale: {uniform: [0.9, 1.2]}}}\n"
        "predicate: fell\nmetric: failure_rate\n"
    )
    shutil.copytree(sim_policy / "policy", tmp_path / "start")
    start = tmp_path / "start" / "policy.pt"
    env = {"SYNTHGATE_SCENARIO_PATH": str(scenarios)}
    done = synthgate("train", *TINY, "plant=sim", f"init_from={start}", "scenarios=[dr_mass]", "exposure=0.5",
                     "steps=150", "learning_starts=50", f"run_dir={tmp_path / 'run'}", env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    # written over the policy it started from, as a shipped policy is replaced by its fine-tune
    done = synthgate("policy", str(tmp_path / "run"), "--out", str(tmp_path / "start"), "--episodes", "2", "--step",
                     "100", env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "start" / "manifest.json").read_text())
    first = json.loads((sim_policy / "policy" / "manifest.json").read_text())
    train, policy, tune, last = manifest["commands"]
    assert train == first["commands"][0].replace("<run_dir>", "<start_run>")
    assert policy == first["commands"][1].replace("<run_dir>", "<start_run>").replace("<dir>", "<start>")
    assert tune.startswith(f"SYNTHGATE_SCENARIO_PATH={scenarios} synthgate train ")
    assert " init_from=<start>/policy.pt " in tune and " 'scenarios=[dr_mass]' " in tune and " exposure=0.5 " in tune
    assert last.startswith("synthgate policy <run_dir>")
    assert " +robot_settings.max_episode_steps=100 " in tune  # a key the defaults lack takes Hydra's +
    assert " steps=100 " in tune  # the checkpoint taken (--step 100 of a 150-step run) and the run that makes it
    assert manifest["sim_steps"] == 300 + 100 and manifest["sim_steps_of_this_run"] == 100
    assert manifest["selection"] == "the checkpoint of step 100 of a run of 150 steps (--step)"
    missing = synthgate("policy", str(tmp_path / "run"), "--out", str(tmp_path / "q"), "--step", "120", env=env)
    assert missing.returncode == 2 and "no checkpoint of step 120" in missing.stderr and "[100, 150]" in missing.stderr
    assert manifest["init_from"]["sha256"] == first["sha256"] != manifest["sha256"]  # the start's, read before
    assert manifest["randomization"] == {"scenarios": ["dr_mass"], "exposure": 0.5}


def test_init_from_starts_the_agent_from_the_policy_with_an_empty_buffer(sim_policy: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    policy = sim_policy / "policy" / "policy.pt"
    # 60 steps, all before learning_starts: no update, so the agent is the policy's as loaded
    done = synthgate("train", *TINY, "gap=default", f"init_from={policy}", "steps=60", "learning_starts=100",
                     f"run_dir={run}")  # fmt: skip
    assert done.returncode == 0, done.stderr
    payload, books, held = books_and_buffers(run)
    saved = torch.load(policy, weights_only=True)
    for name in ("actor", "critic"):
        for key, value in saved[name].items():
            assert torch.equal(payload["agent"][name][key], value), f"{name}.{key}"
    for key, value in saved["critic"].items():
        assert torch.equal(payload["agent"]["critic_target"][key], value), f"critic_target.{key}"
    tag = next(o for _, o in held)
    assert tag.startswith("Hopper-v5[default@") and tag.endswith("]/plant")
    assert books == held == {("real", tag): 60}  # the sim's transitions did not come along
    played = synthgate("play", str(run), "--gap", "hard", "--max-steps", "20")
    assert played.returncode == 0 and f"{run}: 1 episode(s), gap hard" in played.stdout, played.stderr
    bad = synthgate("play", str(run), "--gap", "mild")
    assert bad.returncode == 2 and "unknown gap profile 'mild' for Hopper-v5" in bad.stderr


def test_init_from_then_kill_9_resumes_exactly(sim_policy: Path, tmp_path: Path) -> None:
    args = [*TINY, "gap=default", f"init_from={sim_policy / 'policy' / 'policy.pt'}", "steps=400",
            "learning_starts=100", "seed=3"]  # fmt: skip
    reference = tmp_path / "reference"
    done = synthgate("train", *args, f"run_dir={reference}")
    assert done.returncode == 0, done.stderr
    killed = tmp_path / "killed"
    cfg = {"steps": 400, "checkpoint_every": 100, "log_every": 50, "learning_starts": 100, "utd": 1}
    plan = [("env_step", 150), ("agent_update", 120), ("checkpoint_tmp", 1)]
    report = run_with_kills(args, killed, kills=3, seed=0, sites=(), cfg=cfg, plan=plan)
    assert [k.killed for k in report.kills] == [True, True, True], report
    assert [k.resumed_from for k in report.kills] == [0, 100, 200], report
    assert_same_run(killed, reference)
    _, books, held = books_and_buffers(killed)
    assert books == held and sum(held.values()) == 400


SOURCES = ["sources=[sim,sim_sysid,sim_residual,oracle]", "targeted=true",
           "scenarios=[hopper_heavy_torso,hopper_weak_thigh]", "exposure=0.1",
           "algo.retrain_every=100", "algo.rollouts_per_step=2", "algo.real_ratio=0.5",
           "algo.model.members=3", "algo.model.elites=2", "algo.model.hidden=16", "algo.model.depth=1",
           "algo.model.weight_decay=[0,0]", "algo.model.max_epochs=2", "sysid_evals=8"]  # fmt: skip


def test_the_sim_sources_book_what_their_pools_hold_and_resume_exactly_after_kill_9(
    sim_policy: Path, tmp_path: Path
) -> None:
    """``sim``, ``sim_sysid``, ``sim_residual`` and ``oracle`` refresh on the real transitions and roll out,
    nominal and targeted, into their own pools; every origin the ledger books is what the pools
    hold, and a run killed three times ends in the same state as one that was not."""
    args = [*TINY, *SOURCES, "gap=default", f"init_from={sim_policy / 'policy' / 'policy.pt'}", "steps=400",
            "learning_starts=100", "seed=3"]  # fmt: skip
    reference = tmp_path / "reference"
    done = synthgate("train", *args, f"run_dir={reference}")
    assert done.returncode == 0, done.stderr
    _, books, held = books_and_buffers(reference)
    assert books == held
    origins = {o.split("/")[0]: o for s, o in held if s == "synthetic"}
    assert set(origins) == {"sim", "sim_sysid", "sim_residual", "oracle"}, held
    assert origins["oracle"].startswith("oracle/Hopper-v5[default@"), origins
    scenarios = {o.split(":")[1] for s, o in held if s == "synthetic" and ":" in o}
    assert scenarios == {"hopper_heavy_torso", "hopper_weak_thigh"}, held
    consumed = json.loads((reference / "summary.json").read_text())["ledger"]["by_synthetic_source"]
    used = {name for name, row in consumed.items() if row["consumed"] > 0}
    assert used == {"sim", "sim_sysid", "sim_residual", "oracle"}
    killed = tmp_path / "killed"
    cfg = {"steps": 400, "checkpoint_every": 100, "log_every": 50, "learning_starts": 100, "utd": 1}
    plan = [("env_step", 150), ("agent_update", 120), ("checkpoint_tmp", 1)]
    report = run_with_kills(args, killed, kills=3, seed=0, sites=(), cfg=cfg, plan=plan)
    assert [k.killed for k in report.kills] == [True, True, True], report
    assert_same_run(killed, reference)
    _, books, held = books_and_buffers(killed)
    assert books == held


def test_a_scenario_the_sim_cannot_apply_is_refused_for_the_sim_sources_before_any_work(tmp_path: Path) -> None:
    run = tmp_path / "run"
    done = synthgate("train", *TINY, "sources=[sim]", "targeted=true", "scenarios=[actuation_latency]", "steps=50",
                     f"run_dir={run}")  # fmt: skip
    assert done.returncode == 2, done.stdout
    assert "actuation_latency.yaml: perturbations: sources=['sim'] step the sim, which applies model edits and " \
        "pushes only, not ['action_latency', 'action_noise']" in done.stderr  # fmt: skip
    assert not (run / "checkpoints").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["robot=Walker2d-v5"], "a policy for Hopper-v5, not for robot=Walker2d-v5"),
        (["sac.hidden=32"], "its networks were trained with sac.hidden=16; set the same for this run"),
        (["plant=sim", "gap=hard"], "gap='hard' with plant=sim: the sim has no gap"),
        (["gap=soft"], "gap='soft': unknown gap profile 'soft' for Hopper-v5; valid: none, default, hard"),
        (["plant=hardware"], "plant='hardware': valid: real, sim"),
    ],
)
def test_a_policy_or_plant_that_is_wrong_for_the_run_is_refused_in_one_line_and_nothing_runs(
    sim_policy: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    run = tmp_path / "run"
    done = synthgate("train", *TINY, f"init_from={sim_policy / 'policy' / 'policy.pt'}", "steps=50", *args,
                     f"run_dir={run}")  # fmt: skip
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("synthgate train: error: ") and message in line, line
    assert not run.exists()


def test_a_file_that_is_not_a_policy_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "policy.pt"
    bad.write_bytes(b"not a policy")
    done = synthgate("train", *TINY, f"init_from={bad}", "steps=50", f"run_dir={tmp_path / 'run'}")
    assert done.returncode == 2 and f"init_from='{bad}': not a policy file" in done.stderr, done.stderr


def test_a_run_of_the_plant_without_a_gap_learns_what_the_sim_run_learns(sim_policy: Path, tmp_path: Path) -> None:
    """``gap=none`` steps the sim's physics: the same command with ``plant=real`` makes the same agent,
    update for update; only the ledger books the transitions as real (so ``synthgate policy`` takes
    either run, and refuses a run of a gapped real plant)."""
    from pipeline import checkpoint

    run = tmp_path / "run"
    done = synthgate("train", *TINY, "steps=300", "learning_starts=100", f"run_dir={run}")
    assert done.returncode == 0, done.stderr
    sim, real = (checkpoint.load_latest(d / "checkpoints") for d in (sim_policy / "run", run))
    assert sim is not None and real is not None
    for name in ("actor", "critic", "critic_target", "log_alpha"):
        got, want = real[1]["agent"][name], sim[1]["agent"][name]
        same = (
            torch.equal(got, want) if isinstance(got, torch.Tensor) else all(torch.equal(got[k], want[k]) for k in got)
        )
        assert same, name
    assert books_and_buffers(run)[1] == {("real", "Hopper-v5/plant"): 300}
    gapped = tmp_path / "gapped"
    assert synthgate("train", *TINY, "gap=default", "steps=50", f"run_dir={gapped}").returncode == 0
    done = synthgate("policy", str(gapped), "--out", str(tmp_path / "p"))
    assert done.returncode == 2 and "was trained on the real plant (gap=default)" in done.stderr
