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
from pipeline.faults import RunStopped
from pipeline.stacked_train import train_stacked
from pipeline.train import train

SEEDS = [0, 3]


def _payload(run_dir: Path) -> dict[str, Any]:
    found = checkpoint.load_latest(run_dir / "checkpoints")
    assert found is not None
    return found[1]


def _close(a: Any, b: Any, where: str, rel: float = 1e-5) -> None:
    """Deep comparison: keys, lengths, shapes and dtypes equal, integers, booleans, strings and RNG
    states exact, each float tensor within ``rel`` of its own largest magnitude (Adam's second
    moments are ~1e-6: an absolute bound would not see them), float scalars within ``rel``.

    Stacked and lone runs differ by about 2e-7 of a tensor's scale (batched matmuls sum in another
    order); ``rel`` leaves a 50x margin and still sees a wrong slice, transpose or step count.
    """
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{where}: keys {sorted(set(a) ^ set(b), key=str)}"
        for key in a:
            _close(a[key], b[key], f"{where}.{key}", rel)
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), f"{where}: lengths {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{where}[{i}]", rel)
    elif isinstance(a, torch.Tensor | np.ndarray):
        x, y = torch.as_tensor(a), torch.as_tensor(b)
        assert x.shape == y.shape and x.dtype == y.dtype, where
        if x.is_floating_point() and x.numel():
            assert torch.equal(x.isnan(), y.isnan()), f"{where}: NaNs differ"
            x, y = x.nan_to_num(), y.nan_to_num()
            bound = rel * float(y.abs().max())
            assert float((x - y).abs().max()) <= bound, f"{where}: max diff {(x - y).abs().max():.3g} > {bound:.3g}"
        else:
            assert torch.equal(x, y), f"{where} differs"
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), f"{where}: {a} != {b}"
    elif isinstance(a, float):
        assert abs(a - b) <= rel * max(abs(b), 1e-12), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


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
        # random streams: the same draws in the same order (exactly); buffers, weights, Adam moments
        # and step counts: equal up to the rounding of batched matmuls
        _close(got, want, f"seed {s}")
        for name in ("ledger.jsonl", "metrics.jsonl"):  # episodes, evaluations, alarms, the ledger's books
            run, lone = root / "stacked" / f"seed-{s}" / name, root / f"lone-{s}" / name
            _close(_log_lines(run), _log_lines(lone), f"seed {s} {name}", rel=1e-4)
        saved = yaml.safe_load((root / "stacked" / f"seed-{s}" / "config.yaml").read_text())
        lone = yaml.safe_load((root / f"lone-{s}" / "config.yaml").read_text())
        assert saved["stacked_seeds"] == [] and saved["seed"] == s
        assert {k: v for k, v in saved.items() if k != "run_dir"} == {k: v for k, v in lone.items() if k != "run_dir"}
        log = (root / "stacked" / f"seed-{s}" / "train.log").read_text()  # issue 34: every seed has its log
        assert f"new run {root / 'stacked' / f'seed-{s}'}" in log and "stacked seeds [0, 3] in one process" in log
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
            ended = ("final", "eval", "alarm")
            got = [e for e in _log_lines(run / name) if not (e["step"] == 200 and e["kind"] in ended)]
            assert_same(got, _log_lines(reference / name), f"seed {s} {name}")
        summaries = [json.loads((d / "summary.json").read_text()) for d in (run, reference)]
        assert summaries[0]["eval_returns"] == summaries[1]["eval_returns"]
    # seed 3's directory at step 200 goes on as an ordinary run and ends where the lone run ends
    train(dataclasses.replace(seed_config(cut, 3), run_dir=str(alone), steps=400))
    _close(_payload(alone), _payload(root / "lone-3"), "seed 3 resumed alone")


def test_a_signal_stops_a_stacked_run_with_every_seed_checkpointed_at_one_step(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal

    import pipeline.stacked_train as stacked_module
    from pipeline.train import Interrupted

    original = stacked_module.collect_real_step
    sent: list[int] = []

    def collect(state: Any, *args: Any, **kw: Any) -> Any:
        out = original(state, *args, **kw)
        if state.step == 250 and not sent:  # while the first seed collects step 250
            sent.append(state.step)
            signal.raise_signal(signal.SIGINT)
        return out

    monkeypatch.setattr(stacked_module, "collect_real_step", collect)
    cfg = tiny_config(tmp_path / "stacked", stacked_seeds=SEEDS)
    with pytest.raises(Interrupted) as info:
        train_stacked(cfg)
    assert info.value.step == 250
    assert info.value.checkpoints == [tmp_path / "stacked" / f"seed-{s}" / "checkpoints" / "ckpt-000000250.pt"
                                      for s in SEEDS]  # fmt: skip
    monkeypatch.undo()
    train_stacked(cfg)
    for s in SEEDS:
        run, reference = tmp_path / "stacked" / f"seed-{s}", root / "stacked" / f"seed-{s}"
        assert_same(_payload(run), _payload(reference))
        for name in ("ledger.jsonl", "metrics.jsonl"):
            assert_same(_log_lines(run / name), _log_lines(reference / name), f"seed {s} {name}")


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_stacked_seeds_at_different_steps_are_refused_before_any_file_changes(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path / "stacked", stacked_seeds=SEEDS, steps=150)
    train_stacked(cfg)
    train(dataclasses.replace(seed_config(cfg, 0), steps=200))
    before = _tree(tmp_path)
    with pytest.raises(ConfigError, match=r"different env steps \{0: 200, 3: 150\}"):
        train_stacked(dataclasses.replace(cfg, steps=300))
    assert _tree(tmp_path) == before


def test_a_seed_stopped_by_its_fault_log_stops_the_stacked_run_and_is_named(tmp_path: Path) -> None:
    """Seed 3's buffer is poisoned (NaN rewards) at its step-200 checkpoint: every update of that
    seed has a non-finite critic loss and is skipped, as the lone run's would be, until its fault
    log stops the run; the error names the seed, and seed 0 is left healthy at its checkpoint."""
    cfg = tiny_config(tmp_path / "stacked", stacked_seeds=SEEDS, steps=200)
    cfg = dataclasses.replace(cfg, faults=dataclasses.replace(cfg.faults, max_consecutive_skips=5))
    train_stacked(cfg)
    bad = Path(seed_config(cfg, 3).run_dir)
    payload = _payload(bad)
    payload["buffer"]["rew"] = torch.full_like(payload["buffer"]["rew"], float("nan"))
    checkpoint.save(bad / "checkpoints", 200, payload, keep=2)
    lone = tmp_path / "lone-3"
    shutil.copytree(bad, lone)
    with pytest.raises(RunStopped) as stacked_err:
        train_stacked(dataclasses.replace(cfg, steps=300))
    with pytest.raises(RunStopped) as lone_err:
        train(dataclasses.replace(seed_config(cfg, 3), run_dir=str(lone), steps=300))
    message = str(stacked_err.value)
    assert message.startswith(f"seed 3 ({bad}): stopped at env step 205: 5 agent updates in a row")
    assert str(lone_err.value) in message and "the other seeds resume stacked without it" in message
    good = tmp_path / "stacked" / "seed-0"
    assert _kinds(bad / "ledger.jsonl")[-1] == "stopped"
    assert "stopped" not in _kinds(good / "ledger.jsonl")
    assert checkpoint.step_of(checkpoint.list_checkpoints(good / "checkpoints")[-1]) == 200


def _kinds(path: Path) -> list[str]:
    return [json.loads(line)["kind"] for line in path.read_text().splitlines()]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"stacked_seeds": [1]}, "two or more different seeds"),
        ({"stacked_seeds": [1, 1]}, "two or more different seeds"),
        ({"stacked_seeds": [0, -1]}, "two or more different seeds"),
        ({"stacked_seeds": [0, 1], "algo": "ftfl"}, "only algo=sac without sources stacks seeds"),
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
