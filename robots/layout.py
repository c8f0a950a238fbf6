"""Named observation layouts: every robot's flat float32 observation, column by column.

A layout is an ordered tuple of fields (the plant's own observation keys, in the order the
plant reports them). A field can name its elements, so code reads ``view["position.rootz"]``
and never a raw column number. The same view works on numpy arrays and torch tensors of any
batch shape (the last axis is the observation).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Field:
    """One observation key of a plant, flattened.

    Attributes:
        name: the plant's key for it (``position``, ``velocity``...).
        size: number of float columns it takes.
        elements: optional names of the columns, ``len(elements) == size``.
    """

    name: str
    size: int
    elements: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"field {self.name!r}: size must be >= 1, got {self.size}")
        if self.elements and len(self.elements) != self.size:
            raise ValueError(f"field {self.name!r}: {len(self.elements)} element names for size {self.size}")


def field_of(name: str, spec: int | Sequence[str]) -> Field:
    """Builds a field from a size or from its element names."""
    if isinstance(spec, int):
        return Field(name, spec)
    return Field(name, len(spec), tuple(spec))


@dataclass(frozen=True)
class ObsLayout:
    """The ordered fields of a flat observation vector."""

    fields: tuple[Field, ...]
    _index: dict[str, slice] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, slice] = {}
        start = 0
        for f in self.fields:
            if f.name in index:
                raise ValueError(f"duplicate field {f.name!r} in layout")
            index[f.name] = slice(start, start + f.size)
            for i, element in enumerate(f.elements):
                index[f"{f.name}.{element}"] = slice(start + i, start + i + 1)
            start += f.size
        object.__setattr__(self, "_index", index)

    @classmethod
    def of(cls, *specs: tuple[str, int | Sequence[str]]) -> ObsLayout:
        """``ObsLayout.of(("position", ("rootz", "rooty")), ("velocity", 3))``."""
        return cls(tuple(field_of(name, spec) for name, spec in specs))

    @property
    def size(self) -> int:
        """Total number of columns."""
        return sum(f.size for f in self.fields)

    def keys(self) -> Iterator[str]:
        """Every addressable name: fields, then ``field.element`` for named elements."""
        return iter(self._index)

    def slice(self, key: str) -> slice:
        """The columns of a field or of one named element.

        Raises:
            KeyError: the key is not in the layout; the message lists the valid keys.
        """
        try:
            return self._index[key]
        except KeyError:
            raise KeyError(f"{key!r} is not in the layout; valid keys: {sorted(self._index)}") from None

    def column_names(self) -> list[str]:
        """One name per column: ``field.element`` where elements are named, else ``field[i]``."""
        names: list[str] = []
        for f in self.fields:
            if f.elements:
                names += [f"{f.name}.{e}" for e in f.elements]
            else:
                names += [f.name] if f.size == 1 else [f"{f.name}[{i}]" for i in range(f.size)]
        return names

    def describe(self) -> list[dict[str, object]]:
        """A JSON-friendly description: field, first column, size, element names."""
        return [
            {"field": f.name, "start": self._index[f.name].start, "size": f.size, "elements": list(f.elements)}
            for f in self.fields
        ]

    def view(self, obs: Any) -> LayoutView:
        """Named access to a (batched) observation array or tensor."""
        if obs.shape[-1] != self.size:
            raise ValueError(f"observation has {obs.shape[-1]} columns, layout has {self.size}")
        return LayoutView(self, obs)


class LayoutView:
    """Reads named columns from an observation; scalar elements come back without the last axis."""

    def __init__(self, layout: ObsLayout, obs: Any) -> None:
        self.layout = layout
        self.obs = obs

    def __getitem__(self, key: str) -> Any:
        s = self.layout.slice(key)
        if "." in key:
            return self.obs[..., s.start]
        return self.obs[..., s]
