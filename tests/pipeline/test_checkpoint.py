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


def test_agents_restored_from_one_payload_do_not_share_optimizer_state() -> None:
    """Regression: ``Optimizer.load_state_dict`` keeps the tensors it is given, so two agents
    restored from one in-memory payload shared their Adam moments; stepping one moved the other's."""
    from pipeline.buffer import Batch
    from pipeline.sac import SACHyper, make_sac, sac_update

    def agent(seed: int):
        return make_sac(3, 2, hidden=8, depth=1, lr_actor=1e-3, lr_critic=1e-3, lr_alpha=1e-3, init_alpha=0.1,
                        log_std_min=-5.0, log_std_max=2.0, device=torch.device("cpu"),
                        generator=torch.Generator().manual_seed(seed))  # fmt: skip

    g = torch.Generator().manual_seed(0)
    batch = Batch(obs=torch.randn(16, 3, generator=g), act=torch.rand(16, 2, generator=g) * 2 - 1,
                  rew=torch.randn(16, generator=g), next_obs=torch.randn(16, 3, generator=g),
                  terminated=torch.zeros(16, dtype=torch.bool), source=torch.zeros(16, dtype=torch.int8),
                  origin=torch.zeros(16, dtype=torch.int32), seed=torch.zeros(16, dtype=torch.int64),
                  rollout_step=torch.zeros(16, dtype=torch.int16))  # fmt: skip
    hp = SACHyper(gamma=0.99, tau=0.005, target_entropy=-2.0, log_std_min=-5.0, log_std_max=2.0)
    source = agent(0)
    sac_update(source, batch, torch.Generator().manual_seed(1), hp)  # the optimizers now hold moments
    payload = source.state_dict()
    a, b = agent(1), agent(2)
    a.load_state_dict(payload)
    b.load_state_dict(payload)
    before = b.critic_opt.state_dict()["state"][0]["exp_avg"].clone()
    sac_update(a, batch, torch.Generator().manual_seed(3), hp)
    after = b.critic_opt.state_dict()["state"][0]["exp_avg"]
    assert torch.equal(before, after)
    assert not torch.equal(a.critic_opt.state_dict()["state"][0]["exp_avg"], after)


def test_retention_never_deletes_the_last_verified_checkpoint(tmp_path: Path) -> None:
    # Issue 21: step 2 is corrupt, the run resumes from step 1 and saves step 3. Keeping "the newest 2"
    # by name kept 2 (corrupt) and 3 and deleted 1; a second corruption (of 3) then lost the run.
    checkpoint.save(tmp_path, 1, {"step": 1}, keep=2)
    checkpoint.save(tmp_path, 2, {"step": 2}, keep=2)
    os.truncate(tmp_path / "ckpt-000000002.pt", 7)
    checkpoint.save(tmp_path, 3, {"step": 3}, keep=2)
    assert [p.name for p in checkpoint.list_checkpoints(tmp_path)] == [
        "ckpt-000000001.pt", "ckpt-000000002.pt", "ckpt-000000003.pt"
    ]  # fmt: skip
    os.truncate(tmp_path / "ckpt-000000003.pt", 7)
    with pytest.warns(checkpoint.CheckpointWarning):
        found = checkpoint.load_latest(tmp_path)
    assert found is not None and found[1]["step"] == 1
    # once two newer verified checkpoints exist, the old and the unreadable ones go
    checkpoint.save(tmp_path, 4, {"step": 4}, keep=2)
    checkpoint.save(tmp_path, 5, {"step": 5}, keep=2)
    assert [p.name for p in checkpoint.list_checkpoints(tmp_path)] == ["ckpt-000000004.pt", "ckpt-000000005.pt"]
