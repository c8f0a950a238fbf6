"""Checkpoints hold everything a run needs to continue bit for bit, and resume survives a
corrupted checkpoint and log lines cut by a crash (issue 8)."""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from kill_harness import assert_same, tiny_config

from pipeline import checkpoint, runfiles
from pipeline.run_state import RunState, new_state
from pipeline.train import train


def _payload(run_dir: Path) -> dict[str, Any]:
    found = checkpoint.load_latest(run_dir / "checkpoints")
    assert found is not None
    return found[1]


@pytest.fixture(scope="module")
def ftfl_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny model-based run (checkpoints at 300 and 400; 100 is gone, keep=2)."""
    run_dir = tmp_path_factory.mktemp("ftfl") / "run"
    train(tiny_config(run_dir, algo="ftfl", eval_every=200, keep_checkpoints=2))
    return run_dir


def test_every_field_of_the_run_state_is_in_the_checkpoint(ftfl_run: Path) -> None:
    payload = _payload(ftfl_run)
    assert {f.name for f in dataclasses.fields(RunState)} <= set(payload)
    for key in ("agent", "buffer", "sources", "ledger", "faults"):
        assert payload[key], key
    model = payload["sources"]["model"]
    for key in ("pool", "model", "model_opt", "generator", "version"):
        assert model[key] is not None and len(model[key]), key
    assert {"actor", "critic", "critic_target", "log_alpha", "actor_opt", "critic_opt", "alpha_opt"} <= set(
        payload["agent"]
    )
    assert model["model_opt"]["state"], "the world model's Adam moments are saved"
    normalizers = {"inputs.mean", "inputs.std", "targets.mean", "targets.std", "obs_low", "obs_high", "elite_idx"}
    assert normalizers <= set(model["model"])
    assert all(payload[g] is not None for g in ("np_rng", "gen_act", "gen_update"))


def test_restoring_a_checkpoint_gives_back_the_same_payload(ftfl_run: Path) -> None:
    payload = _payload(ftfl_run)
    cfg = tiny_config(ftfl_run, algo="ftfl")
    state = new_state(cfg, payload["buffer"]["obs"].shape[1], payload["buffer"]["act"].shape[1], torch.device("cpu"))
    state.restore(payload)
    assert_same(state.payload(), payload)


def test_a_run_does_not_read_any_global_random_state(tmp_path: Path) -> None:
    payloads = []
    for i, seed in enumerate((1, 999)):
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        train(tiny_config(tmp_path / f"r{i}", steps=250))
        payloads.append(_payload(tmp_path / f"r{i}"))
    assert_same(payloads[0], payloads[1])


def _copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _events(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if not k.endswith("_s")} for line in lines]


def test_a_corrupted_latest_checkpoint_falls_back_with_a_warning_and_resumes_exactly(
    ftfl_run: Path, tmp_path: Path
) -> None:
    run_dir = _copy_run(ftfl_run, tmp_path / "run")
    latest = run_dir / "checkpoints" / "ckpt-000000400.pt"
    data = bytearray(latest.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle
    latest.write_bytes(bytes(data))
    (run_dir / "summary.json").unlink()
    with pytest.warns(checkpoint.CheckpointWarning, match=r"ckpt-000000400\.pt.*SHA-256.*resuming from ckpt-000000300"):
        train(tiny_config(run_dir, algo="ftfl", eval_every=200, keep_checkpoints=2))
    assert_same(_payload(run_dir), _payload(ftfl_run))
    for name in ("ledger.jsonl", "metrics.jsonl"):
        assert _events(run_dir / name) == _events(ftfl_run / name)


def test_log_lines_cut_by_a_crash_are_dropped_with_a_warning_and_resume_is_exact(
    ftfl_run: Path, tmp_path: Path
) -> None:
    # As if killed while writing step 350's lines: the checkpoint at 400 never came.
    run_dir = _copy_run(ftfl_run, tmp_path / "run")
    for name in ("ckpt-000000400.pt", "ckpt-000000400.pt.sha256"):
        (run_dir / "checkpoints" / name).unlink()
    (run_dir / "summary.json").unlink()
    for name in ("ledger.jsonl", "metrics.jsonl"):
        path = run_dir / name
        kept = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= 350]
        cut = json.dumps({"step": 351, "kind": "window", "held": {"real": 351}})[:25]
        path.write_text("".join(line + "\n" for line in kept) + cut)  # the last line stops mid-write
    with pytest.warns(runfiles.LogWarning, match=r"ledger\.jsonl: line \d+ is cut or corrupted"):
        train(tiny_config(run_dir, algo="ftfl", eval_every=200, keep_checkpoints=2))
    assert_same(_payload(run_dir), _payload(ftfl_run))
    for name in ("ledger.jsonl", "metrics.jsonl"):
        assert _events(run_dir / name) == _events(ftfl_run / name)


def test_the_ledger_command_reads_past_a_cut_last_line(ftfl_run: Path, tmp_path: Path) -> None:
    from helpers import synthgate

    run_dir = _copy_run(ftfl_run, tmp_path / "run")
    with open(run_dir / "ledger.jsonl", "a") as f:
        f.write('{"step": 401, "kind": "win')
    table = synthgate("ledger", str(run_dir))
    assert table.returncode == 0, table.stderr
    assert "real anchor: OK" in table.stdout and "line" in table.stderr and "is cut or corrupted" in table.stderr
