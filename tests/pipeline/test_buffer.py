"""Replay buffer: storage, wrap-around, provenance, sampling and checkpoint round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.buffer import ReplayBuffer, Source


def _filled(capacity: int = 5) -> ReplayBuffer:
    buf = ReplayBuffer(obs_dim=2, act_dim=1, capacity=capacity)
    for i in range(3):
        buf.add(
            np.full(2, i), [i / 10], float(i), np.full(2, i + 1), i == 2, source=Source.REAL, origin="r/plant", seed=i
        )
    return buf


def test_add_single_and_batched_with_provenance() -> None:
    buf = _filled()
    obs = torch.arange(8, dtype=torch.float32).reshape(4, 2)
    buf.add(obs, torch.zeros(4, 1), torch.ones(4), obs + 1, torch.zeros(4, dtype=torch.bool),
            source=Source.SYNTHETIC, origin="model/abc", seed=torch.tensor([7, 8, 9, 10]))  # fmt: skip
    assert buf.size == 5 and buf.added == 7 and buf.ptr == 2  # wrapped: slots 3, 4, 0, 1
    assert buf.origins == ["r/plant", "model/abc"]
    torch.testing.assert_close(buf.obs[[3, 4, 0, 1]], obs)
    assert buf.source.tolist() == [1, 1, 0, 1, 1]  # slot 2 still holds the real transition i=2
    assert buf.seed.tolist() == [9, 10, 2, 7, 8]
    assert buf.terminated[2].item() is True


def test_sampling_is_seeded_and_in_range() -> None:
    buf = _filled(capacity=10)
    a = buf.sample(64, torch.Generator().manual_seed(3))
    b = buf.sample(64, torch.Generator().manual_seed(3))
    torch.testing.assert_close(a.obs, b.obs)
    assert set(a.seed.tolist()) <= {0, 1, 2}
    torch.testing.assert_close(a.next_obs, a.obs + 1)  # rows stay aligned across fields


def test_empty_and_oversized() -> None:
    buf = ReplayBuffer(2, 1, 3)
    with pytest.raises(RuntimeError, match="empty"):
        buf.sample(1, torch.Generator())
    with pytest.raises(ValueError, match="capacity"):
        buf.add(np.zeros((4, 2)), np.zeros((4, 1)), np.zeros(4), np.zeros((4, 2)), np.zeros(4), source=Source.REAL,
                origin="x", seed=0)  # fmt: skip


def test_state_dict_round_trip() -> None:
    buf = _filled()
    copy = ReplayBuffer(2, 1, 5)
    copy.load_state_dict(buf.state_dict())
    for name in ("obs", "act", "rew", "next_obs", "terminated", "source", "origin", "seed"):
        torch.testing.assert_close(getattr(copy, name)[: buf.size], getattr(buf, name)[: buf.size])
    assert (copy.size, copy.ptr, copy.added, copy.origins) == (buf.size, buf.ptr, buf.added, buf.origins)
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(2, 1, 6).load_state_dict(buf.state_dict())
