"""The run directory's append-only logs (``metrics.jsonl``, ``ledger.jsonl``) made crash-safe.

A run killed mid-write (``kill -9``, power loss, a full disk) can leave the last line of a log cut
in the middle, and lines written after its last checkpoint. On resume both go: lines after the
checkpoint are re-made by the resumed run, and a cut line is dropped with a warning naming the
file, the line number and its first characters (issue 8). Readers (``synthgate ledger``) skip a
cut last line the same way instead of failing on it.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline import checkpoint

log = logging.getLogger("synthgate.runfiles")

END_KINDS = frozenset({"eval", "alarm", "final"})
"""Line kinds the end of a run writes at its last step (final evaluation, its alarm, the final
ledger): a session resumed at that step writes them again, so the earlier copies go."""


class LogWarning(UserWarning):
    """A cut or unreadable line in a run log was dropped."""


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a log, one per line; a line that does not parse is dropped with a
    :class:`LogWarning` naming the file and the line (a write cut by a crash)."""
    out: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict) or not isinstance(value.get("step"), int):
            warnings.warn(
                f"{path}: line {number} is cut or corrupted (a write interrupted by a crash?) and is "
                f"dropped: {line[:60]!r}",
                LogWarning,
                stacklevel=2,
            )
            continue
        out.append(value)
    return out


def trim_logs(paths: Iterable[Path], resume_step: int, rerun_end: bool) -> None:
    """Rewrites each log (atomically) without what the resumed run will write again.

    Args:
        paths: the logs; missing ones are skipped.
        resume_step: the checkpoint's step (-1 for a run with no checkpoint: every line goes).
        rerun_end: the run is resumed at its last step, so its end (the :data:`END_KINDS` lines
            at ``resume_step``) runs again.
    """
    for path in paths:
        if not path.exists():
            continue
        lines = read_jsonl(path)
        kept = [
            e
            for e in lines
            if e["step"] < resume_step or (e["step"] == resume_step and not (rerun_end and e.get("kind") in END_KINDS))
        ]
        if len(kept) != len(lines):
            log.info("%s: dropped %d line(s) written after step %d", path, len(lines) - len(kept), resume_step)
        checkpoint.atomic_write(path, "".join(json.dumps(e) + "\n" for e in kept).encode())


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Deletes temporary files of writes a crash interrupted (``.<name>.tmp-<pid>``); returns them."""
    if not directory.is_dir():
        return []
    stale = sorted(p for p in directory.iterdir() if p.name.startswith(".") and ".tmp-" in p.name)
    for path in stale:
        path.unlink(missing_ok=True)
        log.info("removed %s, left by an interrupted write", path)
    return stale


LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"
"""``train.log``'s line format (Hydra's, which writes the file under ``synthgate train``)."""


@contextmanager
def run_log_file(run_dir: Path) -> Iterator[None]:
    """Appends the ``synthgate.*`` loggers' INFO and above to ``<run_dir>/train.log`` while the run
    trains, unless a handler already writes that file (Hydra's, under ``synthgate train``); so a
    run started by ``synthgate run``, ``arms`` or a study has its log as well."""
    path = (run_dir / "train.log").resolve()
    owner = logging.getLogger("synthgate")
    handlers = [*logging.getLogger().handlers, *owner.handlers]
    if any(isinstance(h, logging.FileHandler) and Path(h.baseFilename).resolve() == path for h in handlers):
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(logging.INFO)
    level = owner.level
    if owner.getEffectiveLevel() > logging.INFO:
        owner.setLevel(logging.INFO)
    owner.addHandler(handler)
    try:
        yield
    finally:
        owner.removeHandler(handler)
        owner.setLevel(level)
        handler.close()
