"""Stacked seeds through the training loop (pipeline.stacked_train): each seed's run directory is
the lone run ``seed=s`` would make, a stacked run resumes bit for bit, and a seed's directory
resumes alone."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from kill_harness import _log_lines, assert_same, tiny_config

from pipeline import checkpoint
from pipeline.config import ConfigError, seed_config
from pipeline.stacked_train import train_stacked
from pipeline.train import train

SEEDS = [0, 3]


def _payload(run_dir: Path) -> dict[str, Any]:
    found = checkpoint.load_latest(run_dir / "checkpoints")
    assert found is not None
    return found[1]


def _close(a: Any, b: Any, where: str, atol: float) -> list[float]:
    """Deep comparison: every key and shape equal, integers and RNG states exact, floats within
    ``atol`` (relative 1e-4); returns the float differences seen."""
    diffs: list[float] = []
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{where}: keys {sorted(set(a) ^ set(b), key=str)}"
        for key in a:
            diffs += _close(a[key], b[key], f"{where}.{key}", atol)
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            diffs += _close(x, y, f"{where}[{i}]", atol)
    elif isinstance(a, torch.Tensor | np.ndarray):
        x, y = torch.as_tensor(a), torch.as_tensor(b)
        assert x.shape == y.shape and x.dtype == y.dtype, where
        if x.is_floating_point():
            assert torch.allclose(x, y, rtol=1e-4, atol=atol), f"{where}: max diff {(x - y).abs().max():.3g}"
            diffs.append(float((x - y).abs().max()) if x.numel() else 0.0)
        else:
            assert torch.equal(x, y), f"{where} differs"
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), f"{where}: {a} != {b}"
    elif isinstance(a, float):
        assert abs(a - b) <= atol + 1e-4 * abs(b), f"{where}: {a} != {b}"
        diffs.append(abs(a - b))
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"
    return diffs


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stacked run of seeds 0 and 3 and the two lone runs, 400 steps each."""
    root = tmp_path_factory.mktemp("stacked")
    summaries = train_stacked(tiny_config(root / "stacked", stacked_seeds=SEEDS))
    assert [s["seed"] for s in summaries] == SEEDS
    for s in SEEDS:
        train(tiny_config(root / f"lone-{s}", seed=s))
    return root


def test_each_seed_of_a_stacked_run_is_the_lone_run_up_to_float_rounding(root: Path) -> None:
    for s in SEEDS:
        got, want = _payload(root / "stacked" / f"seed-{s}"), _payload(root / f"lone-{s}")
        assert got["step"] == want["step"] == 400 and got["updates"] == want["updates"] == 300
        # random streams: the same draws in the same order (exactly); buffers, weights, Adam moments:
        # equal up to the rounding of batched matmuls
        diffs = _close(got, want, f"seed {s}", atol=1e-3)
        assert max(diffs) > 0.0, "a stacked run computes with other matmuls: bitwise equality would be suspicious"
        saved = yaml.safe_load((root / "stacked" / f"seed-{s}" / "config.yaml").read_text())
        lone = yaml.safe_load((root / f"lone-{s}" / "config.yaml").read_text())
        assert saved["stacked_seeds"] == [] and saved["seed"] == s
        assert {k: v for k, v in saved.items() if k != "run_dir"} == {k: v for k, v in lone.items() if k != "run_dir"}
    # the seeds are different runs
    a, b = (_payload(root / "stacked" / f"seed-{s}") for s in SEEDS)
    assert not torch.allclose(a["agent"]["log_alpha"], b["agent"]["log_alpha"])


def test_a_stacked_run_resumes_bit_for_bit_and_a_seed_resumes_alone(root: Path, tmp_path: Path) -> None:
    cut = tiny_config(tmp_path / "stacked", stacked_seeds=SEEDS, steps=200)
    train_stacked(cut)
    alone = tmp_path / "alone-3"
    shutil.copytree(tmp_path / "stacked" / "seed-3", alone)
    train_stacked(dataclasses.replace(cut, steps=400))
    for s in SEEDS:  # what the end at step 200 wrote (final evaluation, its alarm, ledger event) aside
        run, reference = tmp_path / "stacked" / f"seed-{s}", root / "stacked" / f"seed-{s}"
        assert_same(_payload(run), _payload(reference))
        for name in ("ledger.jsonl", "metrics.jsonl"):
            cut = ("final", "eval", "alarm")
            got = [e for e in _log_lines(run / name) if not (e["step"] == 200 and e["kind"] in cut)]
            assert_same(got, _log_lines(reference / name), f"seed {s} {name}")
        summaries = [json.loads((d / "summary.json").read_text()) for d in (run, reference)]
        assert summaries[0]["eval_returns"] == summaries[1]["eval_returns"]
    # seed 3's directory at step 200 goes on as an ordinary run and ends where the lone run ends
    train(dataclasses.replace(seed_config(cut, 3), run_dir=str(alone), steps=400))
    _close(_payload(alone), _payload(root / "lone-3"), "seed 3 resumed alone", atol=1e-3)


def test_stacked_seeds_at_different_steps_are_refused(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path / "stacked", stacked_seeds=SEEDS, steps=150)
    train_stacked(cfg)
    train(dataclasses.replace(seed_config(cfg, 0), steps=200))
    with pytest.raises(ConfigError, match="different env steps"):
        train_stacked(dataclasses.replace(cfg, steps=300))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"stacked_seeds": [1]}, "two or more different seeds"),
        ({"stacked_seeds": [1, 1]}, "two or more different seeds"),
        ({"stacked_seeds": [0, -1]}, "two or more different seeds"),
        ({"stacked_seeds": [0, 1], "algo": "ftfl"}, "only algo=sac stacks seeds"),
    ],
)
def test_stacked_seeds_that_cannot_run_are_refused_before_any_work(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    cfg = tiny_config(tmp_path / "run", **change)
    with pytest.raises(ConfigError, match=message):
        train_stacked(cfg)
    with pytest.raises(ConfigError):
        train(cfg)
    assert not (tmp_path / "run").exists()
