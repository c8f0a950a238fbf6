"""LeRobot v3.0 format: round trip, statistics, episode boundaries, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from robots.lerobot_format import DatasetError, Episode, Feature, read_dataset, write_dataset

FEATURES = {
    "observation.state": Feature("float32", (3,), ["x", "y", "z"]),
    "action": Feature("float32", (2,)),
    "next.reward": Feature("float32", (1,)),
    "next.done": Feature("bool", (1,)),
    "provenance.source": Feature("int64", (1,)),
}


def _episodes() -> list[Episode]:
    """Three hand-made episodes of lengths 4, 1 and 6; the second is synthetic."""
    out = []
    for i, (n, source) in enumerate(((4, 0), (1, 1), (6, 0))):
        base = 10.0 * i
        out.append(Episode({
            "observation.state": (base + np.arange(n * 3, dtype=np.float32)).reshape(n, 3),
            "action": np.linspace(-1, 1, n * 2, dtype=np.float32).reshape(n, 2),
            "next.reward": np.arange(n, dtype=np.float32) * (i + 1),
            "next.done": np.arange(n) == n - 1,
            "provenance.source": np.full(n, source, dtype=np.int64),
        }, task="walk" if i != 1 else "imagine"))  # fmt: skip
    return out


def test_round_trip_arrays_stats_provenance_and_boundaries(tmp_path: Path) -> None:
    eps = _episodes()
    root = tmp_path / "ds"
    write_dataset(root, eps, FEATURES, fps=50, robot_type="toy", synthgate_info={"origins": ["a", "b"]},
                  frames_per_file=5)  # fmt: skip
    ds = read_dataset(root)
    for name in FEATURES:
        want = np.concatenate([e.frames[name] for e in eps]).reshape(len(ds.frames["index"]), -1)
        np.testing.assert_array_equal(ds.frames[name].reshape(len(want), -1), want)
    assert ds.episode_bounds == [(0, 4), (4, 5), (5, 11)]
    assert ds.frames["frame_index"].reshape(-1).tolist() == [0, 1, 2, 3, 0, 0, 1, 2, 3, 4, 5]
    assert ds.tasks == ["walk", "imagine"]
    assert ds.frames["task_index"].reshape(-1).tolist() == [0] * 4 + [1] + [0] * 6
    np.testing.assert_allclose(ds.frames["timestamp"].reshape(-1)[5:], np.arange(6) / 50, rtol=1e-6)
    # many episodes per file: 4 + 1 frames in the first file, 6 in the second
    files = sorted((root / "data").glob("chunk-*/file-*.parquet"))
    assert [pq.read_table(f).num_rows for f in files] == [5, 6]
    obs = np.concatenate([e.frames["observation.state"] for e in eps]).astype(np.float64)
    stats = ds.stats["observation.state"]
    np.testing.assert_allclose(stats["mean"], obs.mean(0))
    np.testing.assert_allclose(stats["std"], obs.std(0))
    np.testing.assert_allclose(stats["min"], obs.min(0))
    np.testing.assert_allclose(stats["max"], obs.max(0))
    np.testing.assert_allclose(stats["q50"], np.quantile(obs, 0.5, axis=0))
    assert stats["count"] == [11]
    info = json.loads((root / "meta" / "info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["total_episodes"] == 3 and info["total_frames"] == 11
    assert info["features"]["observation.state"] == {"dtype": "float32", "shape": [3], "names": ["x", "y", "z"]}
    assert info["synthgate"]["origins"] == ["a", "b"]
    assert ds.frames["provenance.source"].reshape(-1).tolist() == [0] * 4 + [1] + [0] * 6


def test_missing_info_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    write_dataset(root, _episodes(), FEATURES, fps=50, robot_type="toy")
    (root / "meta" / "info.json").unlink()
    with pytest.raises(DatasetError, match=r"meta/info\.json is missing"):
        read_dataset(root)


def test_truncated_parquet_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    write_dataset(root, _episodes(), FEATURES, fps=50, robot_type="toy")
    path = next((root / "data").glob("chunk-*/file-*.parquet"))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DatasetError, match=r"cannot read .*file-000\.parquet.*truncated"):
        read_dataset(root)


def test_shape_disagreeing_with_info_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    write_dataset(root, _episodes(), FEATURES, fps=50, robot_type="toy")
    info_path = root / "meta" / "info.json"
    info = json.loads(info_path.read_text())
    info["features"]["observation.state"]["shape"] = [4]
    info_path.write_text(json.dumps(info))
    with pytest.raises(DatasetError, match=r"'observation.state' rows have \[3\] elements but info.json declares"):
        read_dataset(root)


def test_writer_refuses_bad_episodes_and_existing_roots(tmp_path: Path) -> None:
    bad = _episodes()
    bad[0].frames["action"] = np.zeros((4, 3), dtype=np.float32)
    with pytest.raises(DatasetError, match="'action' has shape"):
        write_dataset(tmp_path / "a", bad, FEATURES, fps=50, robot_type="toy")
    (tmp_path / "b").mkdir()
    with pytest.raises(DatasetError, match="already exists"):
        write_dataset(tmp_path / "b", _episodes(), FEATURES, fps=50, robot_type="toy")


def test_lerobot_itself_loads_our_output(tmp_path: Path) -> None:
    try:
        from lerobot.datasets.lerobot_dataset import LeRobotDataset  # type: ignore[import-not-found]
    except Exception as err:  # noqa: BLE001 - any import failure means lerobot is unusable here
        reason = f"lerobot does not import here ({type(err).__name__}: {err}); see docs/data.md"
        print(reason)
        pytest.skip(reason)
    root = tmp_path / "ds"
    write_dataset(root, _episodes(), FEATURES, fps=50, robot_type="toy")
    ds = LeRobotDataset("local/toy", root=root)
    assert ds.num_episodes == 3 and ds.num_frames == 11
