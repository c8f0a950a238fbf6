"""The agent-update phase's bookkeeping (issue 10): the gather, the metric sums, the window's CPU time."""

from __future__ import annotations

import time

import pytest
import torch

from pipeline.buffer import _FIELDS, ReplayBuffer, Source
from pipeline.config import TrainConfig
from pipeline.run_state import new_state
from pipeline.runlog import Window
from pipeline.train import accumulate


def test_gather_returns_the_rows_advanced_indexing_returns_bitwise() -> None:
    buf = ReplayBuffer(3, 2, 50, ctx_dim=2)
    g = torch.Generator().manual_seed(0)
    n = 40
    buf.add(torch.randn(n, 3, generator=g), torch.randn(n, 2, generator=g), torch.randn(n, generator=g),
            torch.randn(n, 3, generator=g), torch.rand(n, generator=g) < 0.3, source=Source.SYNTHETIC,
            origin="model/x", seed=torch.arange(n), rollout_step=torch.arange(n) % 3,
            ctx=torch.randn(n, 2, generator=g))  # fmt: skip
    idx = torch.randint(0, n, (64,), generator=g)
    batch = buf.gather(idx)
    for f in _FIELDS:
        want = getattr(buf, f)[idx]
        got = getattr(batch, f)
        assert got.dtype == want.dtype and torch.equal(got, want), f


def test_accumulate_sums_every_key_and_owns_its_tensors() -> None:
    totals: dict[str, torch.Tensor] = {}
    a = {"x": torch.tensor(1.5), "y": torch.tensor(-2.0)}
    accumulate(totals, a)
    a["x"].add_(100.0)  # the caller's tensor changing later must not change the sums
    accumulate(totals, {"x": torch.tensor(0.25), "y": torch.tensor(1.0)})  # same keys: the foreach path
    accumulate(totals, {"x": torch.tensor(1.0), "y": torch.tensor(1.0), "z": torch.tensor(3.0)})  # a new key
    accumulate(totals, {"x": torch.tensor(1.0)})  # a missing key
    assert {k: float(v) for k, v in totals.items()} == {"x": 3.75, "y": 0.0, "z": 3.0}


def test_window_reports_cpu_time_consistently_with_wall_clock() -> None:
    cfg = TrainConfig(robot="cartpole-swingup", buffer_capacity=100)
    state = new_state(cfg, 5, 1, torch.device("cpu"))
    window = Window(state)
    t_end = time.perf_counter() + 0.05
    while time.perf_counter() < t_end:  # busy: this process uses CPU time
        pass
    state.step += 10
    state.updates += 4
    window.update_cpu_s = 0.02
    out = window.scalars(state)
    assert out["perf/update_cpu_ms"] == pytest.approx(1000.0 * 0.02 / 4)
    assert out["perf/cpu_per_wall"] > 0.0
    # steps per CPU-hour times CPU seconds per wall second is steps per wall-hour
    assert out["perf/env_steps_per_cpu_hour"] * out["perf/cpu_per_wall"] == pytest.approx(
        out["perf/env_steps_per_hour"], rel=1e-9
    )
