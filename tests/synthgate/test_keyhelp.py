"""Key help is read from the config dataclasses' attribute docstrings."""

from __future__ import annotations

from dataclasses import dataclass, field

from synthgate.keyhelp import first_sentence, keys


@dataclass
class _Inner:
    width: int = 8
    """Width of a layer. More detail follows here."""


@dataclass
class _Outer:
    name: str = "x"
    """A name (e.g. ``walker``), as :mod:`robots` lists them. Never shown."""
    inner: _Inner = field(default_factory=_Inner)
    """Nested settings."""
    flag: bool = False
    tags: list[str] = field(default_factory=list)
    """Tags."""


def test_keys_expand_nested_configs_and_keep_the_first_sentence() -> None:
    assert keys(_Outer) == [
        ("name", "x", "A name (e.g. `walker`), as `robots` lists them."),
        ("inner.width", "8", "Width of a layer."),
        ("flag", "false", ""),
        ("tags", "[]", "Tags."),
    ]
    assert first_sentence("One line\n   wrapped. Two.") == "One line wrapped."
