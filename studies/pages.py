"""Generated parts of the docs pages: each study rewrites the text between its two markers from its
logs, and ``--check`` fails when the page is not what the logs give."""

from __future__ import annotations

from pathlib import Path


def splice(doc: str, generated: str, begin: str, end: str) -> str:
    """``doc`` with the text between ``begin`` and ``end`` replaced by ``generated``."""
    if begin not in doc or end not in doc:
        raise ValueError(f"the page lacks the generated-part markers {begin!r} and {end!r}")
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{generated}{end}{tail}"


def update(path: Path, generated: str, begin: str, end: str, check: bool, command: str) -> bool:
    """Writes ``generated`` into ``path`` between the markers; ``check``: write nothing and say
    whether the page already holds it (naming ``command``, which regenerates it, when it does not)."""
    doc = path.read_text()
    new = splice(doc, generated, begin, end)
    if check:
        if new != doc:
            print(f"{path} differs from what its logs give: run {command}")
        return new == doc
    path.write_text(new)
    return True
