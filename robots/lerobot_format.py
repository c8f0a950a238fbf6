"""The LeRobot v3.0 dataset format, written and read with pyarrow (LeRobot itself is not imported).

LeRobot's own package cannot be imported on Python 3.11 with a CPU-only torch (REFERENCE.md), so
synthgate writes and reads the on-disk format directly:

    meta/info.json                       fps, features (dtype, shape, names), totals, path templates
    meta/stats.json                      per feature: mean, std, min, max, count, q01/q10/q50/q90/q99
    meta/tasks.parquet                   task strings (the index) and their task_index
    meta/episodes/chunk-XXX/file-XXX.parquet   one row per episode: length, tasks, where its frames are
    data/chunk-XXX/file-XXX.parquet      frames of many episodes per file
    videos/<key>/chunk-XXX/file-XXX.mp4  optional rendered frames, episodes back to back

Every frame has ``index``, ``episode_index``, ``frame_index``, ``timestamp`` and ``task_index``
besides the declared features. synthgate adds what LeRobot lacks, provenance, as declared
features (``provenance.*``) whose meaning is written into ``info.json`` under ``synthgate``.

This module lives in ``robots`` because a recorded log is plant data (docs/architecture.md: "a recorded robot
log is real too") and the runtime in ``deploy`` writes its logs with it without the training code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CODEBASE_VERSION = "v3.0"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
DEFAULT_FEATURES: dict[str, dict[str, Any]] = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
_ARROW = {
    "float32": pa.float32(),
    "float64": pa.float64(),
    "int64": pa.int64(),
    "int32": pa.int32(),
    "bool": pa.bool_(),
}


class DatasetError(ValueError):
    """A dataset on disk is missing, truncated or inconsistent; the message says where and how."""


@dataclass(frozen=True)
class Feature:
    """A per-frame feature: dtype, shape and optional element names."""

    dtype: str
    shape: tuple[int, ...]
    names: list[str] | None = None

    def as_json(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "shape": list(self.shape), "names": self.names}


@dataclass
class Episode:
    """One episode to write: ``frames[feature]`` is ``[T, *shape]``; ``videos[key]`` is ``[T, H, W, 3]`` uint8."""

    frames: dict[str, np.ndarray]
    task: str
    videos: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def length(self) -> int:
        return len(next(iter(self.frames.values())))


@dataclass
class Dataset:
    """A dataset read back: every feature over all frames, and where each episode starts and ends."""

    root: Path
    info: dict[str, Any]
    frames: dict[str, np.ndarray]
    episode_bounds: list[tuple[int, int]]
    tasks: list[str]
    stats: dict[str, dict[str, Any]]

    @property
    def features(self) -> dict[str, Feature]:
        return {k: Feature(v["dtype"], tuple(v["shape"]), v.get("names")) for k, v in self.info["features"].items()}


def feature_stats(values: np.ndarray) -> dict[str, list[float]]:
    """mean, std, min, max, count and quantiles over frames, per element."""
    x = values.reshape(len(values), -1).astype(np.float64)
    out = {
        "mean": x.mean(0).tolist(),
        "std": x.std(0).tolist(),
        "min": x.min(0).tolist(),
        "max": x.max(0).tolist(),
        "count": [len(x)],
    }
    for q in QUANTILES:
        out[f"q{round(q * 100):02d}"] = np.quantile(x, q, axis=0).tolist()
    return out


def _column(values: np.ndarray, feature: Feature) -> pa.Array:
    arrow = _ARROW[feature.dtype]
    if feature.shape == (1,):
        return pa.array(values.reshape(-1), type=arrow)
    flat = values.reshape(len(values), -1)
    inner = pa.array(flat.reshape(-1), type=arrow)
    offsets = pa.array(np.arange(0, flat.size + 1, flat.shape[1], dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, inner)


def _write_video(path: Path, frames: np.ndarray, fps: int) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise DatasetError(f"could not open a video writer for {path}")
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))  # RGB -> BGR
    writer.release()


def write_dataset(
    root: Path,
    episodes: Sequence[Episode],
    features: dict[str, Feature],
    *,
    fps: int,
    robot_type: str,
    synthgate_info: dict[str, Any] | None = None,
    frames_per_file: int = 100_000,
    chunks_size: int = 1000,
) -> None:
    """Writes ``episodes`` as a LeRobot v3.0 dataset under ``root`` (which must not exist yet).

    Episodes are packed into data files of at most ``frames_per_file`` frames (an episode is never
    split across files); ``chunks_size`` files make a chunk.

    Raises:
        DatasetError: ``root`` exists, or an episode's arrays disagree with ``features``.
    """
    if root.exists():
        raise DatasetError(f"{root} already exists; choose a new output directory")
    video_keys = sorted({k for ep in episodes for k in ep.videos})
    for i, ep in enumerate(episodes):
        for name, feat in features.items():
            if name not in ep.frames:
                raise DatasetError(f"episode {i} has no feature {name!r}; it has {sorted(ep.frames)}")
            got = ep.frames[name].shape[1:] or (1,)
            if tuple(got) != feat.shape or len(ep.frames[name]) != ep.length:
                raise DatasetError(f"episode {i}: {name!r} has shape {ep.frames[name].shape}, declared {feat.shape}")
    tasks = list(dict.fromkeys(ep.task for ep in episodes))
    all_features = {**{k: Feature(v["dtype"], tuple(v["shape"])) for k, v in DEFAULT_FEATURES.items()}, **features}
    # Assign episodes to files.
    groups: list[list[int]] = [[]]
    count = 0
    for i, ep in enumerate(episodes):
        if groups[-1] and count + ep.length > frames_per_file:
            groups.append([])
            count = 0
        groups[-1].append(i)
        count += ep.length
    rows: list[dict[str, Any]] = []
    index = 0
    for file_no, group in enumerate(groups):
        chunk, file_index = divmod(file_no, chunks_size)
        columns: dict[str, list[np.ndarray]] = {k: [] for k in all_features}
        video_t = dict.fromkeys(video_keys, 0.0)
        video_frames: dict[str, list[np.ndarray]] = {k: [] for k in video_keys}
        for i in group:
            ep, n = episodes[i], episodes[i].length
            columns["timestamp"].append(np.arange(n, dtype=np.float32) / fps)
            columns["frame_index"].append(np.arange(n, dtype=np.int64))
            columns["episode_index"].append(np.full(n, i, dtype=np.int64))
            columns["index"].append(np.arange(index, index + n, dtype=np.int64))
            columns["task_index"].append(np.full(n, tasks.index(ep.task), dtype=np.int64))
            for name in features:
                columns[name].append(ep.frames[name])
            row: dict[str, Any] = {
                "episode_index": i, "tasks": [ep.task], "length": n, "data/chunk_index": chunk,
                "data/file_index": file_index, "dataset_from_index": index, "dataset_to_index": index + n,
                "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0,
            }  # fmt: skip
            for key in video_keys:
                if key not in ep.videos or len(ep.videos[key]) != n:
                    raise DatasetError(f"episode {i}: video {key!r} must have one frame per frame ({n})")
                row[f"videos/{key}/chunk_index"], row[f"videos/{key}/file_index"] = chunk, file_index
                row[f"videos/{key}/from_timestamp"] = video_t[key]
                video_t[key] += n / fps
                row[f"videos/{key}/to_timestamp"] = video_t[key]
                video_frames[key].append(ep.videos[key])
            rows.append(row)
            index += n
        table = pa.table({k: _column(np.concatenate(v), all_features[k]) for k, v in columns.items()})
        path = root / DATA_PATH.format(chunk_index=chunk, file_index=file_index)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
        for key in video_keys:
            _write_video(root / VIDEO_PATH.format(video_key=key, chunk_index=chunk, file_index=file_index),
                         np.concatenate(video_frames[key]), fps)  # fmt: skip
    episodes_path = root / EPISODES_PATH.format(chunk_index=0, file_index=0)
    episodes_path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), episodes_path)
    import pandas as pd  # LeRobot reads tasks.parquet with pandas: the task strings are its index

    pd.DataFrame({"task_index": range(len(tasks))}, index=pd.Index(tasks, name="task")).to_parquet(
        root / "meta" / "tasks.parquet"
    )
    stats = {
        name: feature_stats(np.concatenate([ep.frames[name] for ep in episodes]))
        for name, feat in features.items()
        if feat.dtype != "bool"
    }
    (root / "meta" / "stats.json").write_text(json.dumps(stats, indent=2))
    feature_json = {k: v.as_json() for k, v in all_features.items()}
    for key in video_keys:
        h, w = episodes[0].videos[key].shape[1:3]
        feature_json[key] = {
            "dtype": "video", "shape": [h, w, 3], "names": ["height", "width", "channels"],
            "info": {"video.fps": fps, "video.height": h, "video.width": w, "video.channels": 3,
                     "video.codec": "mpeg4", "video.pix_fmt": "yuv420p", "video.is_depth_map": False,
                     "has_audio": False},
        }  # fmt: skip
    n_frames = sum(ep.length for ep in episodes)
    info = {
        "codebase_version": CODEBASE_VERSION,
        "robot_type": robot_type,
        "total_episodes": len(episodes),
        "total_frames": n_frames,
        "total_tasks": len(tasks),
        "chunks_size": chunks_size,
        "data_files_size_in_mb": math.ceil(sum(p.stat().st_size for p in root.glob("data/**/*.parquet")) / 2**20),
        "video_files_size_in_mb": math.ceil(sum(p.stat().st_size for p in root.glob("videos/**/*.mp4")) / 2**20),
        "fps": fps,
        "splits": {"train": f"0:{len(episodes)}"},
        "data_path": DATA_PATH,
        "video_path": VIDEO_PATH if video_keys else None,
        "features": feature_json,
        "synthgate": synthgate_info or {},
    }
    (root / "meta" / "info.json").write_text(json.dumps(info, indent=2))


def _read_parquet(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise DatasetError(f"cannot read {path}: {err} (truncated or not a parquet file?)") from err


def read_dataset(root: Path) -> Dataset:
    """Reads a LeRobot v3.0 dataset and checks every data file against ``info.json``.

    Raises:
        DatasetError: a missing ``meta/info.json``, an unreadable (e.g. truncated) parquet file, a
            feature whose stored shape or presence disagrees with ``info.json``, or frames whose
            episode boundaries disagree with the episode metadata.
    """
    info_path = root / "meta" / "info.json"
    if not info_path.is_file():
        raise DatasetError(f"{info_path} is missing: {root} is not a LeRobot dataset")
    info = json.loads(info_path.read_text())
    if info.get("codebase_version") != CODEBASE_VERSION:
        raise DatasetError(f"{info_path}: codebase_version {info.get('codebase_version')!r}, expected v3.0")
    features = {k: v for k, v in info["features"].items() if v["dtype"] != "video"}
    files = sorted((root / "data").glob("chunk-*/file-*.parquet"))
    if not files:
        raise DatasetError(f"{root / 'data'} holds no parquet files")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in features}
    for path in files:
        table = _read_parquet(path)
        missing = sorted(set(features) - set(table.column_names))
        if missing:
            raise DatasetError(f"{path}: features {missing} declared in info.json are not in the file")
        for name, feat in features.items():
            column = table.column(name)
            shape = tuple(feat["shape"])
            if shape == (1,):
                if pa.types.is_list(column.type):
                    raise DatasetError(f"{path}: {name!r} is a list column but info.json declares shape {list(shape)}")
                parts[name].append(column.to_numpy(zero_copy_only=False).reshape(-1, 1))
                continue
            if not pa.types.is_list(column.type):
                raise DatasetError(f"{path}: {name!r} is a scalar column but info.json declares shape {list(shape)}")
            lengths = {int(v) for v in pc_lengths(column)}
            width = int(np.prod(shape))
            if lengths != {width}:
                raise DatasetError(
                    f"{path}: {name!r} rows have {sorted(lengths)} elements but info.json declares shape {list(shape)}"
                )
            flat = column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
            parts[name].append(flat.reshape(-1, *shape))
    frames = {k: np.concatenate(v) for k, v in parts.items()}
    if len(frames["index"]) != info["total_frames"]:
        raise DatasetError(f"{root}: {len(frames['index'])} frames on disk, info.json says {info['total_frames']}")
    episodes = pa.concat_tables(
        [_read_parquet(p) for p in sorted((root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))]
    ).to_pylist()
    bounds = [(int(e["dataset_from_index"]), int(e["dataset_to_index"])) for e in episodes]
    ep_col = frames["episode_index"].reshape(-1)
    for e, (lo, hi) in zip(episodes, bounds, strict=True):
        if not (ep_col[lo:hi] == e["episode_index"]).all() or hi - lo != e["length"]:
            raise DatasetError(f"{root}: episode {e['episode_index']} metadata disagrees with its frames")
    import pandas as pd

    tasks_df = pd.read_parquet(root / "meta" / "tasks.parquet")
    stats_path = root / "meta" / "stats.json"
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    return Dataset(root, info, frames, bounds, [str(t) for t in tasks_df.index], stats)


def pc_lengths(column: pa.ChunkedArray) -> np.ndarray:
    """Element counts of every row of a list column."""
    import pyarrow.compute as pc

    return np.asarray(pc.list_value_length(column).to_numpy(zero_copy_only=False))
