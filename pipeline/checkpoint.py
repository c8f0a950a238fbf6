"""Atomic, hashed checkpoints: a crash never leaves a half-written file where a good one was.

Each checkpoint is ``ckpt-<step>.pt`` with a ``.sha256`` beside it. Writing goes to a temporary
file in the same directory, is flushed and fsynced, then renamed over the target (POSIX rename is
atomic), and the directory is fsynced. Loading walks from the newest checkpoint back, skipping
any whose bytes do not match their hash, with a warning naming the bad one and the one used.
"""

from __future__ import annotations

import copy
import hashlib
import io
import os
import re
import warnings
from pathlib import Path
from typing import Any

import torch

_NAME = re.compile(r"^ckpt-(\d{9})\.pt$")


class CheckpointWarning(UserWarning):
    """A checkpoint was unreadable and an older one is used instead."""


class CheckpointError(RuntimeError):
    """Checkpoints exist but none can be used; the message lists each one's problem."""


def atomic_write(path: Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` so that readers see the old file or the new one, never a part.

    Raises:
        OSError: with the path in its message (disk full, permission denied...); no partial file
            is left at ``path``.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:  # os.write may write less than asked
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OSError(err.errno, f"could not write {path}: {err.strerror}", str(path)) from err
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save(directory: Path, step: int, payload: dict[str, Any], keep: int) -> Path:
    """Writes checkpoint ``step``, then keeps the newest ``keep`` verified checkpoints (:func:`prune`)."""
    directory.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(payload, buf)
    data = buf.getvalue()
    path = directory / f"ckpt-{step:09d}.pt"
    digest = hashlib.sha256(data).hexdigest()
    digest_file = path.with_name(path.name + ".sha256")
    # A resumed run may save a step it saved before; the same bytes are not written twice, so a
    # crash between writing the new hash and the new data cannot spoil a good checkpoint.
    same = path.exists() and digest_file.exists() and digest_file.read_text().strip() == digest
    if not (same and path.read_bytes() == data):
        atomic_write(digest_file, digest.encode())
        atomic_write(path, data)
    prune(directory, keep)
    return path


def prune(directory: Path, keep: int) -> None:
    """Keeps the newest ``keep`` checkpoints whose bytes match their hash and deletes the rest,
    except unreadable ones newer than the oldest kept (issue 21: counting an unreadable checkpoint
    as kept could delete the last good one, and a second corruption then lost the run)."""
    kept = 0
    for path in reversed(list_checkpoints(directory)):
        if kept >= keep:
            path.unlink(missing_ok=True)
            path.with_name(path.name + ".sha256").unlink(missing_ok=True)
        elif _hash_ok(path):
            kept += 1
        # else: an unreadable checkpoint newer than the oldest kept one stays, and is not counted


def _hash_ok(path: Path) -> bool:
    """Whether ``path`` has a ``.sha256`` beside it that its bytes match (no unpickling)."""
    digest_file = path.with_name(path.name + ".sha256")
    try:
        return (
            digest_file.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest_file.read_text().strip()
        )
    except OSError:
        return False


def list_checkpoints(directory: Path) -> list[Path]:
    """Checkpoint files in ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if _NAME.match(p.name))


def step_of(path: Path) -> int:
    """The env step in a checkpoint's file name (``ckpt-000001000.pt`` is step 1000), unverified.

    Raises:
        ValueError: not a checkpoint file name.
    """
    match = _NAME.match(path.name)
    if match is None:
        raise ValueError(f"{path.name} is not a checkpoint file name (ckpt-<9 digits>.pt)")
    return int(match.group(1))


def _verified(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    digest_file = path.with_name(path.name + ".sha256")
    if not digest_file.exists():
        raise ValueError("its .sha256 file is missing")
    if hashlib.sha256(data).hexdigest() != digest_file.read_text().strip():
        raise ValueError("its bytes do not match its SHA-256 (truncated or corrupted)")
    payload: dict[str, Any] = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
    return payload


def load_step(directory: Path, step: int) -> tuple[Path, dict[str, Any]]:
    """The checkpoint of ``step``, verified.

    Raises:
        CheckpointError: no checkpoint of that step (the steps there are listed), or it does not verify.
    """
    found = {step_of(p): p for p in list_checkpoints(directory)}
    if step not in found:
        raise CheckpointError(f"no checkpoint of step {step} in {directory}; its steps: {sorted(found) or 'none'}")
    try:
        return found[step], _verified(found[step])
    except Exception as err:  # noqa: BLE001 - unreadable for any reason: say which and why
        raise CheckpointError(f"{found[step]}: {err}") from None


def load_latest(directory: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint that verifies, or None when there is none at all.

    Raises:
        CheckpointError: checkpoints exist but none verifies (each one's problem is listed).
    """
    problems: list[str] = []
    for path in reversed(list_checkpoints(directory)):
        try:
            payload = _verified(path)
        except Exception as err:  # noqa: BLE001 - any unreadable file means: try the previous one
            problems.append(f"{path.name}: {err}")
            continue
        if problems:
            warnings.warn(
                f"skipped unreadable checkpoint(s) [{'; '.join(problems)}]; resuming from {path.name}",
                CheckpointWarning,
                stacklevel=2,
            )
        return path, payload
    if problems:
        raise CheckpointError(
            f"no usable checkpoint in {directory}: {'; '.join(problems)}. Restore one from a backup, or move "
            "the directory away to start the run over"
        )
    return None


def load_optimizer(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """``optimizer.load_state_dict`` on a deep copy of ``state``.

    ``Optimizer.load_state_dict`` keeps the tensors it is given when their dtype and device already
    match: two optimizers restored from one in-memory payload would share (and both update) the same
    Adam moments. The agent's and the resumed world model's optimizers are restored through here.
    (:mod:`pipeline.faults` restores a snapshot it deep-copied itself.)
    """
    optimizer.load_state_dict(copy.deepcopy(state))
