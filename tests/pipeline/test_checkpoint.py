"""Checkpoints: atomic writes, hashes, fallback to the previous good one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from pipeline import checkpoint


def test_save_load_keep(tmp_path: Path) -> None:
    for step in (10, 20, 30):
        checkpoint.save(tmp_path, step, {"step": step, "w": torch.full((3,), float(step))}, keep=2)
    assert [p.name for p in checkpoint.list_checkpoints(tmp_path)] == ["ckpt-000000020.pt", "ckpt-000000030.pt"]
    found = checkpoint.load_latest(tmp_path)
    assert found is not None and found[1]["step"] == 30
    torch.testing.assert_close(found[1]["w"], torch.full((3,), 30.0))
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_truncated_latest_falls_back_with_a_warning_naming_both(tmp_path: Path) -> None:
    checkpoint.save(tmp_path, 10, {"step": 10}, keep=3)
    latest = checkpoint.save(tmp_path, 20, {"step": 20}, keep=3)
    latest.write_bytes(latest.read_bytes()[:-7])
    with pytest.warns(checkpoint.CheckpointWarning, match=r"ckpt-000000020\.pt.*ckpt-000000010\.pt"):
        found = checkpoint.load_latest(tmp_path)
    assert found is not None and found[1]["step"] == 10


def test_none_usable_is_an_error_and_empty_is_none(tmp_path: Path) -> None:
    assert checkpoint.load_latest(tmp_path / "missing") is None
    path = checkpoint.save(tmp_path, 10, {"step": 10}, keep=3)
    path.with_name(path.name + ".sha256").unlink()
    with pytest.raises(checkpoint.CheckpointError, match=r"no usable checkpoint.*sha256 file is missing"):
        checkpoint.load_latest(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_permission_denied_is_clear_and_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    checkpoint.atomic_write(target, b"good")
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(OSError, match="could not write"):
            checkpoint.atomic_write(target, b"new")
    finally:
        tmp_path.chmod(0o700)
    assert target.read_bytes() == b"good"


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.txt"
    checkpoint.atomic_write(target, b"good")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.os, "fsync", disk_full)
    with pytest.raises(OSError, match=r"could not write .*f\.txt: No space left"):
        checkpoint.atomic_write(target, b"half")
    assert target.read_bytes() == b"good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]
