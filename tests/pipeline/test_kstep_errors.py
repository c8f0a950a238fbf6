"""k-step model error next to the no-change prediction (pipeline.diagnostics.kstep_errors), by hand."""

from __future__ import annotations

import torch
from helpers import hyper

from pipeline import diagnostics
from pipeline.buffer import ReplayBuffer, Source
from pipeline.world_model import EnsembleDynamics


def test_kstep_errors_against_a_hand_rollout_and_the_no_change_prediction() -> None:
    torch.manual_seed(0)
    buffer = ReplayBuffer(2, 1, 100)
    states = torch.tensor([[1.0, 0.0], [2.0, 0.0], [3.0, 4.0], [0.0, 5.0]])  # one episode, 3 transitions
    for t in range(3):
        buffer.add(states[t], torch.zeros(1), 0.0, states[t + 1], False, source=Source.REAL, origin="real", seed=7)
    # another episode's transition: a segment may not run into it
    buffer.add(states[0], torch.zeros(1), 0.0, states[1], False, source=Source.REAL, origin="real", seed=8)
    model = EnsembleDynamics(2, 1, hyper())
    out = diagnostics.kstep_errors(model, buffer, [1, 3], 8, torch.Generator().manual_seed(0))
    # only one segment of 3 consecutive transitions exists: rows 0, 1, 2
    s = states[0:1]
    for _ in range(3):
        s = diagnostics.elite_mean(model, s, torch.zeros(1, 1))[:, 1:]
    want_k3 = 100.0 * float((s - states[3]).norm() / states[3].norm())
    assert abs(out["diag/model_error_pct_k3"] - want_k3) < 1e-4
    # no change: |s0 - s1| / |s1| = 1 / 2; |s0 - s3| / |s3| = |(1, -5)| / 5 = sqrt(26) / 5
    assert abs(out["diag/no_change_error_pct_k1"] - 50.0) < 1e-4
    assert abs(out["diag/no_change_error_pct_k3"] - 100.0 * 26**0.5 / 5) < 1e-4
