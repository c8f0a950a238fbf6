"""synthgate export: a run's real episodes as a LeRobot dataset with rendered video."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import pyarrow.parquet as pq
import pytest
from helpers import synthgate


def test_export_cheetah_run_with_video_readable_by_pyarrow_and_opencv(tmp_path: Path) -> None:
    run = tmp_path / "run"
    trained = synthgate(
        "train", "robot=cheetah-run", "algo=sac", "steps=240", "learning_starts=240", "eval_every=0",
        "eval_episodes=1", "progress=false", "+robot_settings.max_episode_steps=80",
        "+robot_settings.render_width=64", "+robot_settings.render_height=48", f"run_dir={run}",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    out = tmp_path / "dataset"
    exported = synthgate("export", str(run), "--what", "real", "--out", str(out), "--video")
    assert exported.returncode == 0, exported.stderr
    assert "wrote 3 episodes, 240 frames of real data" in exported.stdout

    table = pq.read_table(next((out / "data").glob("chunk-*/file-*.parquet")))
    assert table.num_rows == 240
    assert set(table.column("episode_index").to_pylist()) == {0, 1, 2}
    assert set(table.column("provenance.source").to_pylist()) == {0}
    info = json.loads((out / "meta" / "info.json").read_text())
    assert info["fps"] == 100 and info["features"]["observation.images.render"]["shape"] == [48, 64, 3]

    video = next((out / "videos" / "observation.images.render").glob("chunk-*/file-*.mp4"))
    cap = cv2.VideoCapture(str(video))
    assert cap.isOpened()
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 240
    assert round(cap.get(cv2.CAP_PROP_FPS)) == 100
    ok, frame = cap.read()
    assert ok and frame.shape == (48, 64, 3) and frame.std() > 0
    episodes = pq.read_table(next((out / "meta" / "episodes").glob("chunk-*/file-*.parquet"))).to_pylist()
    assert [e["videos/observation.images.render/from_timestamp"] for e in episodes] == [0.0, 0.8, 1.6]

    panels = synthgate("export", str(run), "--what", "panels", "--out", str(tmp_path / "p"))
    assert panels.returncode == 2 and "needs a validated run: no gate_report.json" in panels.stderr
    synthetic = synthgate("export", str(run), "--what", "synthetic", "--out", str(tmp_path / "s"))
    assert synthetic.returncode == 2 and "not model-based" in synthetic.stderr


def test_train_starts_from_an_imported_dataset(tmp_path: Path) -> None:
    run = tmp_path / "run"
    common = ["robot=pendulum-swingup", "algo=sac", "eval_every=0", "eval_episodes=1", "progress=false",
              "+robot_settings.max_episode_steps=50", "sac.hidden=32"]  # fmt: skip
    assert synthgate("train", *common, "steps=100", "learning_starts=100", f"run_dir={run}").returncode == 0
    data = tmp_path / "data"
    assert synthgate("export", str(run), "--what", "real", "--out", str(data)).returncode == 0
    second = tmp_path / "second"
    trained = synthgate("train", *common, "steps=60", "learning_starts=0", f"run_dir={second}",
                        f"+import_datasets=[{{path: {data}}}]")  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "imported 100 real transitions" in trained.stdout + trained.stderr
    table = synthgate("ledger", str(second)).stdout
    # the imported rows keep the origin their dataset declares (the first run's plant)
    assert f"real:lerobot:{data}|pendulum-swingup/plant: 100" in table and "real:pendulum-swingup/plant: 60" in table
    missing = synthgate("train", *common, "steps=10", f"run_dir={tmp_path / 'x'}", "+import_datasets=[{path: /nope}]")
    assert missing.returncode == 2 and "import_datasets[0].path='/nope': no such directory" in missing.stderr


def _model_based_run(run: Path) -> Path:
    """A run directory as a model-based run leaves it (config and a checkpoint with a real and a
    synthetic buffer), written directly: the export reads nothing else."""
    import numpy as np
    import yaml

    import robots
    from pipeline import checkpoint
    from pipeline.buffer import ReplayBuffer, Source

    record = robots.get("pendulum-swingup")
    obs, act = record.layout.size, record.action_dim
    rng = np.random.default_rng(0)
    real, synthetic = ReplayBuffer(obs, act, 16), ReplayBuffer(obs, act, 16)
    for buffer, source, origin in ((real, Source.REAL, "pendulum-swingup/plant"), (synthetic, Source.SYNTHETIC,
                                                                                   "model/v1")):  # fmt: skip
        buffer.add(rng.normal(size=(8, obs)), rng.uniform(-1, 1, (8, act)), rng.normal(size=8),
                   rng.normal(size=(8, obs)), np.zeros(8, dtype=bool), source=source, origin=origin,
                   seed=np.zeros(8, dtype=np.int64))  # fmt: skip
    run.mkdir(parents=True)
    config = {"robot": "pendulum-swingup", "algo": {"name": "ftfl"}, "robot_settings": {}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    payload = {"version": 2, "buffer": real.state_dict(), "sources": {"model": {"pool": synthetic.state_dict()}}}
    checkpoint.save(run / "checkpoints", 8, payload, 2)
    return run


@pytest.mark.parametrize("what", ["synthetic", "panels"])
def test_video_is_refused_where_it_cannot_be_rendered(tmp_path: Path, what: str, capsys: Any) -> None:
    """Issue 21, item 8: ``--video`` with ``--what synthetic`` or ``panels`` wrote no video and said nothing."""
    from synthgate.cli import main

    run = _model_based_run(tmp_path / "run")
    out = tmp_path / "dataset"
    with pytest.raises(SystemExit) as refused:
        main(["export", str(run), "--what", what, "--out", str(out), "--video"])
    err = capsys.readouterr().err
    assert refused.value.code == 2 and not out.exists()
    assert err.startswith(f"synthgate export: error: --video: --what {what} writes no video; only --what real"), err
    if what == "synthetic":  # the same export without --video works: the run is not what is refused
        assert main(["export", str(run), "--what", what, "--out", str(out)]) == 0
        assert "wrote 8 episodes, 8 frames of synthetic (model) data" in capsys.readouterr().out  # a rollout each
