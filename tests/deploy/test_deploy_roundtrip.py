"""Logs close the loop: a deployed episode's dataset is read back and trains a new run as real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from deploy_helpers import TINY_RUN
from helpers import synthgate

from deploy.bundle import load_bundle
from robots.lerobot_format import read_dataset


def test_deployed_episodes_come_back_as_real_data_in_a_new_run(bundle: Path, tmp_path: Path) -> None:
    log_dir = tmp_path / "deploy-log"
    ran = synthgate("deploy", "run", str(bundle), "--backend", "mujoco", "--episodes", "2", "--max-steps", "30",
                    "--gap", "obs_noise_std=0.01", "--log-dir", str(log_dir))  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    origin = f"deploy:{load_bundle(bundle).id}:mujoco"
    assert f"wrote 2 episode(s), 60 real transitions (origin {origin})" in ran.stdout

    ds = read_dataset(log_dir)
    assert ds.info["synthgate"]["origins"] == [origin] and ds.info["fps"] == 50
    assert set(ds.frames["provenance.source"].ravel()) == {0}  # real
    assert set(ds.frames["provenance.origin"].ravel()) == {0}
    assert ds.episode_bounds == [(0, 30), (30, 60)]
    lo, hi = ds.episode_bounds[0]  # s' of a frame is s of the next frame within an episode
    np.testing.assert_array_equal(
        ds.frames["next.observation.state"][lo : hi - 1], ds.frames["observation.state"][lo + 1 : hi]
    )
    assert np.isfinite(ds.frames["next.reward"]).all()
    run_info = json.loads((log_dir / "meta" / "deploy_run.json").read_text())
    assert run_info["bundle_id"] == load_bundle(bundle).id and run_info["status"] == "completed"

    second = tmp_path / "second"
    trained = synthgate("train", *[a for a in TINY_RUN if not a.startswith(("steps=", "learning_starts="))],
                        "steps=40", "learning_starts=0", f"run_dir={second}",
                        f"+import_datasets=[{{path: {log_dir}}}]")  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "imported 60 real transitions" in trained.stdout + trained.stderr
    ledger = synthgate("ledger", str(second)).stdout
    origin = f"deploy:{load_bundle(bundle).id}:mujoco"  # the origin the deployment log declares
    assert f"real:lerobot:{log_dir}|{origin}: 60" in ledger and "real:cheetah-run/plant: 40" in ledger
