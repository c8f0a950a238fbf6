"""Replay buffer preallocated as tensors, with per-sample provenance.

Every transition carries its provenance from the day it is stored (docs/architecture.md, "provenance"):
``source`` (real or synthetic), ``origin`` (an id into the buffer's origin table, e.g.
``cheetah-run/plant`` or ``model/<version>``), ``seed`` (the plant episode's reset seed, or the
rollout's seed) and ``rollout_step`` (0 for real data; 1..k for the k-th step of a model rollout).
A buffer built with ``ctx_dim > 0`` also stores each transition's perturbation context
(:mod:`robots.context`: zeros for the nominal plant), so the world model learns the plant under
the scenarios real exposure ran, and synthetic transitions keep the context they were made for.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np
import torch


class Source(IntEnum):
    """Where a transition came from."""

    REAL = 0
    SYNTHETIC = 1


@dataclass(frozen=True)
class Batch:
    """A batch of transitions; ``terminated`` is failure only (time limits are not stored as ends)."""

    obs: torch.Tensor
    act: torch.Tensor
    rew: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor
    source: torch.Tensor
    origin: torch.Tensor
    seed: torch.Tensor
    rollout_step: torch.Tensor
    ctx: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 0))
    """Each row's perturbation context, ``[batch, ctx_dim]`` (``ctx_dim`` may be 0)."""


def count_by_origin(source: torch.Tensor, origin: torch.Tensor, origins: list[str]) -> Counter[tuple[str, str]]:
    """Rows counted by ``(source name, origin string)``; ``origin`` indexes ``origins``."""
    n_origins = max(len(origins), 1)
    keys = source.to(torch.int64) * n_origins + origin.to(torch.int64)
    out: Counter[tuple[str, str]] = Counter()
    for key, count in enumerate(torch.bincount(keys, minlength=len(Source) * n_origins).tolist()):
        if count:
            out[(Source(key // n_origins).name.lower(), origins[key % n_origins])] = count
    return out


_FIELDS = ("obs", "act", "rew", "next_obs", "terminated", "source", "origin", "seed", "rollout_step", "ctx")


class ReplayBuffer:
    """A ring buffer of ``capacity`` transitions, allocated once on ``device``."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        capacity: int,
        device: torch.device | str = "cpu",
        origins: list[str] | None = None,
        ctx_dim: int = 0,
    ) -> None:
        """``origins`` may be shared by several buffers, so batches mixed from them keep one id space;
        ``ctx_dim`` is the width of the context column (0: no context)."""
        if capacity < 1:
            raise ValueError(f"buffer capacity must be >= 1, got {capacity}")
        d = torch.device(device)
        self.capacity, self.device = int(capacity), d
        self.obs = torch.zeros(capacity, obs_dim, device=d)
        self.act = torch.zeros(capacity, act_dim, device=d)
        self.rew = torch.zeros(capacity, device=d)
        self.next_obs = torch.zeros(capacity, obs_dim, device=d)
        self.terminated = torch.zeros(capacity, dtype=torch.bool, device=d)
        self.source = torch.zeros(capacity, dtype=torch.uint8, device=d)
        self.origin = torch.zeros(capacity, dtype=torch.int32, device=d)
        self.seed = torch.zeros(capacity, dtype=torch.int64, device=d)
        self.rollout_step = torch.zeros(capacity, dtype=torch.int16, device=d)
        self.ctx_dim = int(ctx_dim)
        self.ctx = torch.zeros(capacity, self.ctx_dim, device=d)
        self.origins: list[str] = origins if origins is not None else []
        self.size = 0
        self.ptr = 0
        self.added = 0

    def origin_id(self, origin: str) -> int:
        """The id of an origin string, added to the table on first use."""
        try:
            return self.origins.index(origin)
        except ValueError:
            self.origins.append(origin)
            return len(self.origins) - 1

    def add(
        self,
        obs: np.ndarray | torch.Tensor,
        act: np.ndarray | torch.Tensor,
        rew: np.ndarray | torch.Tensor | float,
        next_obs: np.ndarray | torch.Tensor,
        terminated: np.ndarray | torch.Tensor | bool,
        *,
        source: Source,
        origin: str,
        seed: int | np.ndarray | torch.Tensor,
        rollout_step: int | torch.Tensor = 0,
        ctx: np.ndarray | torch.Tensor | None = None,
    ) -> Counter[tuple[str, str]]:
        """Stores one transition (1-D ``obs``) or a batch (2-D ``obs``); the oldest are overwritten.

        ``ctx`` is the context of each transition (``[ctx_dim]`` or ``[n, ctx_dim]``); None stores
        zeros (nominal).

        Returns:
            What was overwritten, counted by ``(source, origin)`` (empty until the buffer is full),
            so the ledger can keep its books equal to the buffer's contents.
        """
        o = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        n = 1 if o.dim() == 1 else o.shape[0]
        if n > self.capacity:
            raise ValueError(f"cannot add {n} transitions to a buffer of capacity {self.capacity}")
        idx = (torch.arange(n, device=self.device) + self.ptr) % self.capacity if n > 1 else self.ptr
        evicted: Counter[tuple[str, str]] = Counter()
        if self.size + n > self.capacity:  # rows below the old size hold data about to be overwritten
            rows = torch.as_tensor(idx, device=self.device).reshape(-1)
            rows = rows[rows < self.size]
            evicted = self.counts(rows)
        self.obs[idx] = o
        self.act[idx] = torch.as_tensor(act, dtype=torch.float32, device=self.device)
        self.rew[idx] = torch.as_tensor(rew, dtype=torch.float32, device=self.device)
        self.next_obs[idx] = torch.as_tensor(next_obs, dtype=torch.float32, device=self.device)
        self.terminated[idx] = torch.as_tensor(terminated, dtype=torch.bool, device=self.device)
        self.source[idx] = int(source)
        self.origin[idx] = self.origin_id(origin)
        self.seed[idx] = torch.as_tensor(seed, dtype=torch.int64, device=self.device)
        self.rollout_step[idx] = torch.as_tensor(rollout_step, dtype=torch.int16, device=self.device)
        if ctx is None:
            self.ctx[idx] = 0.0
        else:
            c = torch.as_tensor(ctx, dtype=torch.float32, device=self.device)
            if c.shape[-1] != self.ctx_dim:
                raise ValueError(f"context has {c.shape[-1]} columns; this buffer stores ctx_dim={self.ctx_dim}")
            self.ctx[idx] = c
        self.ptr = (self.ptr + n) % self.capacity
        self.size = min(self.size + n, self.capacity)
        self.added += n
        return evicted

    def counts(self, rows: torch.Tensor | None = None) -> Counter[tuple[str, str]]:
        """Transitions held (all, or at ``rows``) counted by ``(source name, origin)``."""
        if rows is None:
            rows = torch.arange(self.size, device=self.device)
        return count_by_origin(self.source[rows], self.origin[rows], self.origins)

    def sample(self, n: int, generator: torch.Generator) -> Batch:
        """``n`` transitions drawn uniformly with replacement, using ``generator``."""
        if self.size == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        idx = torch.randint(0, self.size, (n,), generator=generator, device=generator.device).to(self.device)
        return self.gather(idx)

    def gather(self, idx: torch.Tensor) -> Batch:
        """The transitions at ``idx`` (integer row indices).

        ``index_select`` rather than advanced indexing: the same rows, bitwise, at about half the
        cost per batch (issue 10: the mixer gathers ten fields from two buffers for every update).
        """
        return Batch(**{f: getattr(self, f).index_select(0, idx) for f in _FIELDS})

    def state_dict(self) -> dict[str, Any]:
        """The filled part of the buffer and its counters (for checkpoints)."""
        return {
            "capacity": self.capacity,
            "size": self.size,
            "ptr": self.ptr,
            "added": self.added,
            "origins": list(self.origins),
            **{f: getattr(self, f)[: self.size].cpu().clone() for f in _FIELDS},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores a state from :meth:`state_dict` into this (already allocated) buffer."""
        if state["capacity"] != self.capacity:
            raise ValueError(f"checkpoint buffer capacity {state['capacity']} != configured {self.capacity}")
        n = int(state["size"])
        width = state["ctx"].shape[1] if "ctx" in state else 0
        if width != self.ctx_dim:
            raise ValueError(
                f"checkpoint buffer has a context of width {width}; this buffer stores ctx_dim={self.ctx_dim}"
            )
        for f in _FIELDS:
            if f in state:  # a checkpoint from before the context column has none (width 0, checked above)
                getattr(self, f)[:n] = state[f].to(self.device)
        self.size, self.ptr, self.added = n, int(state["ptr"]), int(state["added"])
        self.origins[:] = state["origins"]  # in place: the table may be shared
