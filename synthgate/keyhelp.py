"""``--help`` for the commands that take ``key=value``: each key, its default and the first sentence
of its docstring, read from the config dataclass the command parses into (one source: the docs a
developer writes beside each field are what the user reads)."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import re
import textwrap
from functools import cache
from typing import Any


@cache
def attribute_docs(cls: type) -> dict[str, str]:
    """The string literal under each field of a dataclass (its attribute docstring), by field name."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, after in itertools.pairwise(body):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):  # fmt: skip
            docs[node.target.id] = after.value.value
    return docs


def first_sentence(doc: str) -> str:
    """The docstring's first sentence on one line, without reST's roles and double backquotes."""
    text = re.sub(r":(mod|data|func|class|meth|attr):`", "`", " ".join(doc.replace("``", "`").split()))
    for match in re.finditer(r"\. ", text):
        if not text[: match.start()].endswith(("e.g", "i.e", "etc")):
            return text[: match.start() + 1]
    return text


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return "(required)"


def keys(cls: type, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, default, first sentence) for every leaf field of ``cls``, nested dataclasses
    expanded (``algo.model.members``)."""
    docs = attribute_docs(cls)
    out = []
    for f in dataclasses.fields(cls):
        value = _default(f)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out += keys(type(value), f"{prefix}{f.name}.")
            continue
        shown = "null" if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
        out.append((f"{prefix}{f.name}", shown, first_sentence(docs.get(f.name, ""))))
    return out


def render(cls: type, width: int = 34) -> str:
    """One line per key: ``key=default`` then the description, aligned."""
    lines = []
    for key, default, doc in keys(cls):
        left = f"  {key}={default}"
        lines.append(f"{left:{width}s} {doc}" if len(left) < width else f"{left}\n{'':{width}s} {doc}")
    return "\n".join(lines)
