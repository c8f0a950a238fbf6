"""User errors and refused writes: every bad input is one line naming the field, the value and what
is allowed (exit status 2) before any work; a full disk or a read-only run directory is a clear
message (exit status 1 or 2) that leaves every good file as it was (issue 8)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import synthgate
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from kill_harness import assert_same

from pipeline import checkpoint
from pipeline.config import TrainConfig, flat_items
from synthgate import cli

# --- property: any override either validates or is the documented one-line error, exit 2 ---------

FIELDS = sorted(flat_items(TrainConfig()))
FIELDS += ["algo", "sac", "algo.model", "faults", "robot_settings.max_episode_steps", "robot_settings.gravity"]
KEYS = st.one_of(
    st.sampled_from([f for f in FIELDS if f != "run_dir"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.[]0123456789", min_size=1, max_size=12),
)
NAMED_VALUES = [
    "null", "true", "false", "[]", "[1,2]", "[1,2,3,4]", "{}", "''", "sac", "ftfl", "mbpo", "cartpole-swingup",
    "walker-walk", "cpu", "cuda:0", "auto", "gaussian_nll", "beta_nll", "[slippery_floor]", "[push_recovery]",
    "${seed}", "${nope}", "[0,0,0,0,0]", "0.5", "1e-3", "a,b", "[{path:/nonexistent}]",
]  # fmt: skip
VALUES = st.one_of(
    st.integers(-(10**13), 10**13).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(NAMED_VALUES),
    st.text(alphabet="ab01-.,=[]{}:'\"$ ~+", max_size=8),
)
DEFAULTS = {k: v for k, v in flat_items(TrainConfig()).items() if k != "run_dir"}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value).replace(" ", "")


def _near_default(key: str) -> st.SearchStrategy[str]:
    """Values near a field's default (so that many examples are valid and reach the later checks)."""
    value = DEFAULTS[key]
    if isinstance(value, bool):
        options = [_text(value), _text(not value)]
    elif isinstance(value, int):
        options = [str(value + d) for d in (-1, 0, 1)] + [str(value * 2), "0"]
    elif isinstance(value, float):
        options = [str(value * f) for f in (0.5, 1.0, 2.0, 0.0, -1.0)]
    else:
        options = [_text(value)]
    return st.sampled_from(options).map(lambda v: f"{key}={v}")


OVERRIDES = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["", "", "", "+", "++", "~"]), KEYS, VALUES).map(lambda t: f"{t[0]}{t[1]}={t[2]}"),
        st.sampled_from(sorted(DEFAULTS)).flatmap(_near_default),
    ),
    min_size=1,
    max_size=3,
)


def _check(overrides: list[str], run_dir: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = cli.main(["train", "--check", *overrides, f"run_dir={run_dir}"])
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    return code, capsys.readouterr().err


def _property(overrides: list[str], run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _check([o for o in overrides if "run_dir" not in o and not o.lstrip("+~").startswith("hydra")],
                       run_dir, capsys)  # fmt: skip
    assert code in (0, 2), (overrides, code, err)
    event(f"exit {code}")
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("synthgate train: error: "), (overrides, err)
        if len(overrides) == 1:  # the one override given is the one named
            key = overrides[0].split("=", 1)[0].lstrip("+~").split("[")[0]
            assert key.split(".")[-1] in lines[0] or overrides[0] in lines[0], (overrides, err)
    else:
        assert not err.strip(), err


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(overrides=OVERRIDES)
def test_any_override_validates_or_is_the_documented_error(
    overrides: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _property(overrides, tmp_path / "run", capsys)


@pytest.mark.slow
@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(overrides=OVERRIDES)
def test_any_override_validates_or_is_the_documented_error_many(
    overrides: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _property(overrides, tmp_path / "run", capsys)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("steps=abc", r"steps=abc: Value 'abc' of type 'str' could not be converted to Integer"),
        ("sac.hiden=3", r"sac.hiden=3: no such field \(did you mean sac.hidden"),
        (
            "algo=dreamer",
            r"algo=dreamer: unknown algorithm; valid: ftfl, ftfl_beta_nll, ftfl_direct_only, "
            r"ftfl_norm_only, mbpo, sac",
        ),
        ("steps=[", r"'steps=\[' is not a valid override"),
        ("sac.lr_actor=inf", r"sac.lr_actor=inf: must be a finite number in \(0, inf\)"),
        ("seed=-1", r"seed=-1: must be >= 0"),
        ("+robot_settings.max_episode_steps=0", r"robot_settings.max_episode_steps=0: must be >= 1"),
        ("robot_settings.camera=1", r"robot_settings has no key 'camera'"),
        ("scenarios=[nope]", r"scenarios: unknown scenario 'nope'; valid: "),
        ("scenarios=[weak_knee]", r"weak_knee is a scenario of .*, not of robot=cartpole-swingup"),
        ("+import_datasets=[{path:/nonexistent}]", r"import_datasets\[0\].path='/nonexistent': no such directory"),
        ("algo.model.depth=2", r"algo.model.weight_decay=.* need algo.model.depth \+ 1 = 3"),
        ("faults.max_consecutive_skips=0", r"faults.max_consecutive_skips=0: must be > 0"),
        ("buffer_capacity=100000000000", r"needs about .* GiB up front .*buffer_capacity=100000000000"),
    ],
)
def test_each_rejection_names_the_field_the_value_and_what_is_allowed(
    override: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import re

    code, err = _check([override], tmp_path / "run", capsys)
    assert code == 2 and re.search(message, err), err
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_a_dataset_that_is_not_a_lerobot_dataset_is_refused_before_work(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "data").mkdir()
    code, err = _check([f"+import_datasets=[{{path:{tmp_path}/data}}]"], tmp_path / "run", capsys)
    assert code == 2 and f"import_datasets[0].path='{tmp_path}/data'" in err and "not a LeRobot dataset" in err


def test_the_command_line_exits_2_without_a_traceback(tmp_path: Path) -> None:
    bad = synthgate("train", "sac.gamma=1.5", f"run_dir={tmp_path}/r")
    assert bad.returncode == 2 and "sac.gamma=1.5: must be in [0, 1)" in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "r").exists()


# --- refused writes ------------------------------------------------------------------------

TINY_CLI = [
    "robot=cartpole-swingup", "algo=sac", "seed=2", "learning_starts=100", "checkpoint_every=100", "eval_every=0",
    "eval_episodes=1", "log_every=50", "progress=false", "threads=1", "sac.hidden=16", "sac.batch_size=32",
    "+robot_settings.max_episode_steps=100", "kstep=[1,2]",
]  # fmt: skip


def test_atomic_write_on_a_full_disk_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f.bin"
    checkpoint.atomic_write(target, b"good")
    real_write = os.write

    def full(fd: int, data: Any) -> int:  # half goes to disk, then the disk is full
        if len(data) > 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint.os, "write", full)
    with pytest.raises(OSError, match=r"could not write .*f\.bin: No space left on device") as err:
        checkpoint.atomic_write(target, b"new contents")
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(target)
    monkeypatch.undo()
    assert target.read_bytes() == b"good" and sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("ref") / "run"
    done = synthgate("train", *TINY_CLI, "steps=300", f"run_dir={run_dir}")
    assert done.returncode == 0, done.stderr
    return run_dir


def _latest(run_dir: Path) -> dict[str, Any]:
    found = checkpoint.load_latest(run_dir / "checkpoints")
    assert found is not None
    return found[1]


@pytest.mark.parametrize(("code", "said"), [(errno.ENOSPC, "the disk is full"), (errno.EACCES, "permission denied")])
def test_a_refused_checkpoint_write_mid_run_is_clear_keeps_the_last_good_one_and_resumes_exactly(
    code: int, said: str, reference: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    spec = json.dumps({"site": "refuse_write", "errno": code, "match": "ckpt-000000200.pt"})
    runner = str(Path(__file__).parents[1] / "kill_harness.py")
    refused = subprocess.run([sys.executable, runner, spec, "train", *TINY_CLI, "steps=300", f"run_dir={run_dir}"],
                             capture_output=True, text=True, check=False, timeout=300)  # fmt: skip
    assert refused.returncode == 1, refused.stderr
    assert f"could not write {run_dir}/checkpoints/ckpt-000000200.pt" in refused.stderr and said in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _latest(run_dir)["step"] == 100  # the good one is intact
    assert not [p for p in (run_dir / "checkpoints").iterdir() if ".tmp-" in p.name]
    if code != errno.ENOSPC:  # resuming after the cause is gone is the same for both; checked once
        return
    resumed = synthgate("train", *TINY_CLI, "steps=300", f"run_dir={run_dir}")  # the same command, cause gone
    assert resumed.returncode == 0, resumed.stderr
    assert_same(_latest(run_dir), _latest(reference))


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    return done.returncode == 0


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "mnt"
    if not _mount_tmpfs(where, "4m"):
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_real_full_disk_is_a_clear_error_and_the_run_resumes_once_space_is_freed(
    tmpfs: Path, reference: Path
) -> None:
    run_dir = tmpfs / "run"
    first = synthgate("train", *TINY_CLI, "steps=200", f"run_dir={run_dir}")
    assert first.returncode == 0, first.stderr
    good = {p.name: p.read_bytes() for p in (run_dir / "checkpoints").iterdir()}
    free = shutil.disk_usage(tmpfs).free
    filler = tmpfs / "filler"
    with open(filler, "wb") as f:  # leave less room than one more checkpoint needs
        f.write(b"\0" * max(free - 8 * 1024, 0))
    full = synthgate("train", *TINY_CLI, "steps=300", f"run_dir={run_dir}")
    assert full.returncode == 1, full.stderr
    assert "the disk is full" in full.stderr and "Traceback" not in full.stderr, full.stderr
    for name, data in good.items():  # every good checkpoint is still there, byte for byte
        assert (run_dir / "checkpoints" / name).read_bytes() == data
    assert not [p for d in (run_dir, run_dir / "checkpoints") for p in d.iterdir() if ".tmp-" in p.name]
    filler.unlink()
    resumed = synthgate("train", *TINY_CLI, "steps=300", f"run_dir={run_dir}")
    assert resumed.returncode == 0, resumed.stderr
    assert_same(_latest(run_dir), _latest(reference))


def test_a_read_only_run_directory_is_refused_before_work_and_left_untouched(tmpfs: Path) -> None:
    run_dir = tmpfs / "run"
    first = synthgate("train", *TINY_CLI, "steps=200", f"run_dir={run_dir}")
    assert first.returncode == 0, first.stderr
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    remount = subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], capture_output=True, text=True)
    assert remount.returncode == 0, remount.stderr
    refused = synthgate("train", *TINY_CLI, "steps=300", f"run_dir={run_dir}")
    assert refused.returncode == 2, refused.stderr
    assert f"run_dir='{run_dir}': cannot write there (Read-only file system, at {run_dir})" in refused.stderr
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before


def test_a_run_directory_whose_every_checkpoint_is_corrupt_is_a_clear_error(reference: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    for path in checkpoint.list_checkpoints(run_dir / "checkpoints"):
        path.write_bytes(path.read_bytes()[:100])
    refused = synthgate("train", *TINY_CLI, "steps=400", f"run_dir={run_dir}")
    assert refused.returncode == 2, refused.stderr
    assert "no usable checkpoint in" in refused.stderr and "ckpt-000000300.pt: its bytes do not match" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_broken_scenario_file_is_refused_before_work_naming_the_file_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    import scenarios.library

    library = tmp_path / "library"
    library.mkdir()
    text = (scenarios.library.LIBRARY / "slippery_floor.yaml").read_text()
    (library / "slippery_floor.yaml").write_text(text.replace("{uniform: [0.1, 0.3]}", "{uniform: [0.3, 0.1]}"))
    monkeypatch.setattr(scenarios.library, "LIBRARY", library)
    code, err = _check(["robot=walker-walk", "scenarios=[slippery_floor]", "exposure=0.1"], tmp_path / "run", capsys)
    assert code == 2 and "slippery_floor.yaml" in err and "scale" in err, err
