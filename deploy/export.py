"""Export of a deterministic policy to TorchScript and ONNX, with the ONNX file checked against torch.

``deploy`` never sees the training code: the caller (the command line) hands over a plain
``torch.nn.Module`` mapping a batch of raw observations ``[B, obs_dim]`` to actions in [-1, 1]
``[B, act_dim]`` (for synthgate's SAC actor, ``tanh(mean)``: ``Actor.deterministic``).

Observation normalization is folded into both exported graphs when the policy has one
(:class:`Normalization` ``standardize``), so the robot feeds raw observations either way; a
policy trained on raw observations (synthgate's SAC does not normalize) is exported with
``identity`` and the manifest says so.

ONNX path: torch 2.13's ``torch.export``-based exporter (``dynamo=True``, the default since torch
2.9) with a dynamic batch axis. The legacy TorchScript-based exporter (``dynamo=False``) also
works on these policies but is deprecated and warns; see docs/deploy.md.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

TORCHSCRIPT_FILE = "policy.pt"
ONNX_FILE = "policy.onnx"
INPUT_NAME = "observation"
OUTPUT_NAME = "action"
PARITY_TOLERANCE = 1e-5
"""Largest max-abs difference between ONNX Runtime and torch accepted at export (issue 7)."""


class ExportError(RuntimeError):
    """Export failed or the exported policy disagrees with the torch one; the message says by how much."""


@dataclass(frozen=True)
class Normalization:
    """How raw observations are normalized before the network.

    Attributes:
        kind: ``identity`` (the network takes raw observations) or ``standardize``
            (``(obs - mean) / std``, folded into the exported graphs).
        mean: per-column mean (``standardize`` only).
        std: per-column standard deviation, > 0 (``standardize`` only).
        note: why this normalization, written into the manifest.
    """

    kind: str = "identity"
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("identity", "standardize"):
            raise ValueError(f"normalization kind {self.kind!r}: valid: identity, standardize")
        if self.kind == "standardize":
            if not self.mean or len(self.mean) != len(self.std):
                raise ValueError(f"standardize needs mean and std of one length, got {len(self.mean)}, {len(self.std)}")
            if min(self.std) <= 0:
                raise ValueError(f"standardize: every std must be > 0, got min {min(self.std)}")

    def as_json(self) -> dict[str, Any]:
        folded = self.kind == "standardize"
        return {"kind": self.kind, "folded_into_graph": folded, "mean": list(self.mean), "std": list(self.std),
                "note": self.note}  # fmt: skip


class NormalizedPolicy(nn.Module):
    """``policy((obs - mean) / std)``: the graph that is exported (identity skips the affine map)."""

    def __init__(self, policy: nn.Module, obs_dim: int, normalization: Normalization) -> None:
        super().__init__()
        self.policy = policy
        mean = torch.zeros(obs_dim) if normalization.kind == "identity" else torch.tensor(normalization.mean)
        std = torch.ones(obs_dim) if normalization.kind == "identity" else torch.tensor(normalization.std)
        if mean.shape != (obs_dim,):
            raise ValueError(f"normalization has {mean.shape[0]} columns, the policy takes {obs_dim}")
        self.mean: torch.Tensor
        self.inv_std: torch.Tensor
        self.register_buffer("mean", mean.float())
        self.register_buffer("inv_std", (1.0 / std).float())
        self.identity = normalization.kind == "identity"

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.identity:
            out: torch.Tensor = self.policy(obs)
        else:
            out = self.policy((obs - self.mean) * self.inv_std)
        return out


@dataclass
class ExportResult:
    """What :func:`export_policy` wrote and measured."""

    files: list[str]
    obs_dim: int
    act_dim: int
    normalization: Normalization
    parity: dict[str, Any] = field(default_factory=dict)
    onnx_exporter: str = "torch.onnx.export(dynamo=True)"


@contextlib.contextmanager
def _torchscript_deprecation_quiet() -> Iterator[None]:
    """torch 2.13 marks ``torch.jit.trace`` / ``load`` deprecated (they still work); the issue asks for
    TorchScript, docs/deploy.md says so once, and the warning is not repeated on every call."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning)
        yield


def load_torchscript(path: Path) -> Any:
    """``torch.jit.load`` without torch 2.13's deprecation warning."""
    with _torchscript_deprecation_quiet():
        return torch.jit.load(str(path))


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The dynamo exporter prints progress lines and logs torchvision warnings; keep them off the user's screen."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def onnx_session(path: Path) -> Any:
    """An ONNX Runtime CPU session with one intra-op thread (a control loop runs one small batch)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def parity(
    reference: nn.Module, onnx_path: Path, torchscript_path: Path, observations: dict[str, np.ndarray]
) -> dict[str, Any]:
    """Max absolute difference of ONNX Runtime and TorchScript outputs against ``reference``, per set.

    Returns:
        ``{set name: {"n": rows, "onnx_max_abs_diff": float, "torchscript_max_abs_diff": float}}``.
    """
    session = onnx_session(onnx_path)
    scripted = load_torchscript(torchscript_path)
    out: dict[str, Any] = {}
    for name, obs in observations.items():
        x = np.ascontiguousarray(obs, dtype=np.float32)
        with torch.no_grad():
            want = reference(torch.from_numpy(x)).numpy()
            ts = scripted(torch.from_numpy(x)).numpy()
        got = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
        out[name] = {
            "n": len(x),
            "onnx_max_abs_diff": float(np.abs(got - want).max()),
            "torchscript_max_abs_diff": float(np.abs(ts - want).max()),
        }
    return out


def export_policy(
    policy: nn.Module,
    obs_dim: int,
    act_dim: int,
    out_dir: Path,
    *,
    normalization: Normalization | None = None,
    real_observations: np.ndarray | None = None,
    n_random: int = 1000,
    seed: int = 0,
    tolerance: float = PARITY_TOLERANCE,
) -> ExportResult:
    """Writes ``policy.pt`` (TorchScript) and ``policy.onnx`` into ``out_dir`` and checks them.

    Args:
        policy: raw observations ``[B, obs_dim]`` -> actions in [-1, 1] ``[B, act_dim]``; put in
            eval mode and not modified.
        normalization: folded into both graphs; None means ``identity``.
        real_observations: observations the robot really produced (e.g. the run's replay buffer),
            checked besides ``n_random`` random ones.
        n_random: random observations for the parity check, drawn from N(0, 3^2) per column
            (wider than typical states, so saturated and unsaturated tanh are both exercised).
        tolerance: largest max-abs difference accepted between ONNX Runtime / TorchScript and torch.

    Returns:
        The files written and the parity figures.

    Raises:
        ExportError: an exporter failed, the output shape is wrong, or a difference exceeds ``tolerance``.
    """
    norm = normalization or Normalization("identity", note="the policy takes raw observations")
    out_dir.mkdir(parents=True, exist_ok=True)
    model = NormalizedPolicy(policy, obs_dim, norm).eval()
    example = torch.zeros(2, obs_dim)
    with torch.no_grad():
        shape = tuple(model(example).shape)
    if shape != (2, act_dim):
        raise ExportError(f"the policy maps [2, {obs_dim}] to {list(shape)}, expected [2, {act_dim}]")
    ts_path, onnx_path = out_dir / TORCHSCRIPT_FILE, out_dir / ONNX_FILE
    with torch.no_grad(), _torchscript_deprecation_quiet():
        traced = torch.jit.trace(model, example, check_trace=True)
        traced.save(str(ts_path))
    try:
        with _quiet_exporter():
            program = torch.onnx.export(
                model,
                (example,),
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
            )
            assert program is not None
            program.save(str(onnx_path))
    except Exception as err:  # any exporter failure is reported with its cause
        raise ExportError(f"ONNX export (torch.onnx.export, dynamo=True) failed: {type(err).__name__}: {err}") from err
    import onnx

    onnx.checker.check_model(str(onnx_path))
    rng = np.random.default_rng(seed)
    sets = {"random": rng.normal(0.0, 3.0, (n_random, obs_dim)).astype(np.float32)}
    if real_observations is not None and len(real_observations):
        sets["real"] = np.asarray(real_observations, dtype=np.float32)
    figures = parity(model, onnx_path, ts_path, sets)
    for name, fig in figures.items():
        worst = max(fig["onnx_max_abs_diff"], fig["torchscript_max_abs_diff"])
        if not worst <= tolerance:
            raise ExportError(
                f"exported policy disagrees with torch on {fig['n']} {name} observations: ONNX max abs diff "
                f"{fig['onnx_max_abs_diff']:.3g}, TorchScript {fig['torchscript_max_abs_diff']:.3g} > {tolerance:g}"
            )
    figures["tolerance"] = tolerance
    return ExportResult([TORCHSCRIPT_FILE, ONNX_FILE], obs_dim, act_dim, norm, figures)
