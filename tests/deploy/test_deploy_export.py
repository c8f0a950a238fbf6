"""Export: TorchScript and ONNX of the deterministic policy, checked against torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from deploy.export import ExportError, Normalization, export_policy, load_torchscript
from synthgate.deploy import load_run_policy


def test_onnx_matches_torch_within_1e_5_on_1000_random_and_real_observations(tiny_run: Path, tmp_path: Path) -> None:
    run, policy = load_run_policy(tiny_run)
    payload = run.payload
    assert payload is not None
    real = payload["buffer"]["obs"][: payload["buffer"]["size"]].numpy()
    result = export_policy(policy, 17, 6, tmp_path, real_observations=real, n_random=1000)
    print("parity:", result.parity)
    assert result.parity["random"]["n"] == 1000 and result.parity["real"]["n"] == len(real) == 300
    assert result.parity["random"]["onnx_max_abs_diff"] <= 1e-5
    assert result.parity["real"]["onnx_max_abs_diff"] <= 1e-5
    # Independently of export_policy's own check: the ONNX file is the actor's tanh(mean).
    session = ort.InferenceSession(str(tmp_path / "policy.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).normal(0, 3, (1000, 17)).astype(np.float32)
    with torch.no_grad():
        actor: Any = policy.actor
        mean = actor.net(torch.from_numpy(x)).chunk(2, dim=-1)[0]
        want = torch.tanh(mean).numpy()
    got = session.run(["action"], {"observation": x})[0]
    assert np.abs(got - want).max() <= 1e-5
    assert np.abs(load_torchscript(tmp_path / "policy.pt")(torch.from_numpy(x)).detach().numpy() - want).max() == 0
    assert result.normalization.as_json()["kind"] == "identity"


def test_standardization_is_folded_into_both_graphs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2), nn.Tanh())
    norm = Normalization("standardize", (1.0, -2.0, 0.5), (2.0, 0.5, 4.0), note="test")
    export_policy(net, 3, 2, tmp_path, normalization=norm, n_random=50)
    x = np.array([[1.0, -2.0, 0.5], [3.0, -1.5, 4.5]], dtype=np.float32)  # raw observations
    with torch.no_grad():
        want = net(torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])).numpy()  # by hand: (x - mean) / std
    got = ort.InferenceSession(str(tmp_path / "policy.onnx")).run(["action"], {"observation": x})[0]
    assert np.abs(got - want).max() <= 1e-6
    assert np.abs(load_torchscript(tmp_path / "policy.pt")(torch.from_numpy(x)).detach().numpy() - want).max() < 1e-6


def test_the_parity_check_can_fail_and_a_wrong_shape_is_refused(tmp_path: Path) -> None:
    net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2), nn.Tanh())
    with pytest.raises(ExportError, match=r"max abs diff .* > 1e-12"):
        export_policy(net, 4, 2, tmp_path / "a", n_random=1000, tolerance=1e-12)  # float32 rounding exceeds it
    with pytest.raises(ExportError, match=r"maps \[2, 4\] to \[2, 2\], expected \[2, 3\]"):
        export_policy(net, 4, 3, tmp_path / "b")
