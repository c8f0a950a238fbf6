"""Helpers that let one predicate body serve numpy arrays and torch tensors alike.

Predicates, named quantities and termination functions are written with operators that both
libraries share (``<``, ``|``, ``&``, ``abs``, indexing); the few calls that differ live here.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def all_finite(x: Array) -> Array:
    """True where every column of the last axis is finite."""
    if isinstance(x, torch.Tensor):
        return torch.isfinite(x).all(dim=-1)
    return np.isfinite(x).all(axis=-1)


def all_within(x: Array, bound: float) -> Array:
    """True where every column of the last axis lies strictly inside (-bound, bound)."""
    if isinstance(x, torch.Tensor):
        return (x.abs() < bound).all(dim=-1)
    return (np.abs(x) < bound).all(axis=-1)


def norm(x: Array) -> Array:
    """Euclidean norm over the last axis."""
    if isinstance(x, torch.Tensor):
        return torch.linalg.vector_norm(x, dim=-1)
    return np.linalg.norm(x, axis=-1)


def zeros_like_batch(x: Array) -> Array:
    """A boolean False per row (batch shape of ``x`` without its last axis)."""
    if isinstance(x, torch.Tensor):
        return torch.zeros(x.shape[:-1], dtype=torch.bool, device=x.device)
    return np.zeros(x.shape[:-1], dtype=bool)
