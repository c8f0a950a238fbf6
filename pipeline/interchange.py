"""Replay buffers to and from LeRobot v3.0 datasets, with provenance.

Export writes one frame per stored transition: ``observation.state`` (s), ``action`` (a),
``next.observation.state`` (s'), ``next.reward``, ``next.terminated`` (failure), ``next.done``
(failure or the episode's last frame) and the ``provenance.*`` features, whose lookup tables
(origins, model versions, scenarios) are written into ``info.json`` under ``synthgate``.

Real episodes are the plant's own: consecutive rows of one episode seed whose ``next_obs``
equals the next row's ``obs``. Synthetic transitions are branched model rollouts from real
states, not plant trajectories: each rollout is one exported "episode"
(:func:`synthetic_rollout_rows`), and ``info.json`` says so.

Import declares, in config, which features make the robot's observation and action, checks
names and shapes against the robot's layout before touching the buffer (a mismatch lists both
sides), and only then adds the transitions: as real, with origin ``lerobot:<path>``
(:func:`import_dataset`), or, for episodes an outside generator made (``synthetic=true``), as
synthetic in a pool of their own under the origin ``generated:<generator>@<version>``
(:func:`import_generated`). Which one a dataset is must be declared, never guessed: a dataset
that declares itself generated is refused on the real path, and generated data whose origin is
declared neither by the dataset nor by the import config is refused.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import robots
from pipeline.buffer import ReplayBuffer, Source
from robots.lerobot_format import Dataset, DatasetError, Episode, Feature, read_dataset, write_dataset

PROVENANCE_DOC = {
    "provenance.source": "0 = real (a plant or a recorded log), 1 = synthetic (world model or outside generator)",
    "provenance.origin": "index into synthgate.origins: '<robot>/plant', 'lerobot:<path>', 'model/<version>' or "
    "'generated:<generator>@<version>[:<scenario>]'",
    "provenance.model_version": "index into synthgate.model_versions; -1 for real transitions",
    "provenance.scenario": "index into synthgate.scenarios; -1 for nominal (no scenario)",
    "provenance.seed": "the plant episode's reset seed, or the seed of the rollout batch",
    "provenance.rollout_step": "0 for real; k for the k-th step of a model rollout",
}


@dataclass
class DatasetImportConfig:
    """How a LeRobot dataset's features map onto a robot's observation and action."""

    path: str = "???"
    """Dataset root (the folder holding meta/ and data/)."""
    observation: list[str] = field(default_factory=lambda: ["observation.state"])
    """Features concatenated, in this order, into the robot's flat observation."""
    action: str = "action"
    """The action feature (already in [-1, 1])."""
    reward: str = "next.reward"
    """The reward feature."""
    terminated: str | None = "next.terminated"
    """A boolean failure feature; None if the log has none (episodes then end by time only)."""
    next_observation: list[str] | None = field(default_factory=lambda: ["next.observation.state"])
    """Features making s'; None takes s' from the episode's next frame (its last frame is dropped)."""
    check_names: bool = True
    """When the dataset names its elements, require them to equal the robot's column names."""
    synthetic: bool = False
    """The episodes were made by an outside generator (a world foundation model, another simulator):
    they go to a synthetic pool of their own, never to the real buffer."""
    origin: str | None = None
    """``generated:<generator>@<version>`` of a synthetic import; may instead be declared by the
    dataset (``meta/info.json`` -> ``synthgate.generated``). Both given must agree."""


GENERATED = re.compile(r"generated:[A-Za-z0-9_.\-]+@[A-Za-z0-9_.+\-]+")
"""An outside generator's origin: ``generated:<generator>@<version>``."""


def control_fps(robot: str) -> int:
    """The robot's control rate in frames per second (a dataset's ``fps``)."""
    env = robots.make(robot)
    fps = max(round(1.0 / env.unwrapped.control_timestep), 1)  # type: ignore[attr-defined]
    env.close()
    return fps


def _layout_features(record: robots.RobotRecord) -> dict[str, Feature]:
    obs_names = record.layout.column_names()
    return {
        "observation.state": Feature("float32", (record.layout.size,), obs_names),
        "action": Feature("float32", (record.action_dim,), [f"a{i}" for i in range(record.action_dim)]),
        "next.observation.state": Feature("float32", (record.layout.size,), obs_names),
        "next.reward": Feature("float32", (1,)),
        "next.terminated": Feature("bool", (1,)),
        "next.done": Feature("bool", (1,)),
        "provenance.source": Feature("int64", (1,)),
        "provenance.origin": Feature("int64", (1,)),
        "provenance.model_version": Feature("int64", (1,)),
        "provenance.scenario": Feature("int64", (1,)),
        "provenance.seed": Feature("int64", (1,)),
        "provenance.rollout_step": Feature("int64", (1,)),
    }


def real_episode_rows(buffer: ReplayBuffer) -> list[np.ndarray]:
    """Row indices of each real plant episode, in time order (continuity checked row by row)."""
    n = buffer.size
    rows = np.arange(n) if n < buffer.capacity else (np.arange(n) + buffer.ptr) % buffer.capacity
    rows = rows[buffer.source[rows].numpy() == int(Source.REAL)]
    if len(rows) == 0:
        return []
    seed = buffer.seed[rows].numpy()
    cont = (buffer.next_obs[rows[:-1]] == buffer.obs[rows[1:]]).all(-1).numpy() & (seed[:-1] == seed[1:])
    cut = np.flatnonzero(~cont) + 1
    return np.split(rows, cut)


def synthetic_rollout_rows(buffer: ReplayBuffer) -> list[np.ndarray]:
    """Row indices of each model rollout in the buffer (a synthetic "episode"), in time order.

    Rollouts are stored step by step for many starts at once, so a rollout's rows are not adjacent:
    a row at rollout step ``h > 1`` continues the rollout of its model version whose step ``h - 1``
    row's next observation is exactly its observation; a step-1 row (or one whose predecessor was
    dropped or evicted) starts a rollout."""
    n = buffer.size
    rows = np.arange(n) if n < buffer.capacity else (np.arange(n) + buffer.ptr) % buffer.capacity
    rows = rows[buffer.source[rows].numpy() == int(Source.SYNTHETIC)]
    obs, nxt = buffer.obs[rows].numpy(), buffer.next_obs[rows].numpy()
    step, origin = buffer.rollout_step[rows].numpy(), buffer.origin[rows].numpy()
    chains: list[list[int]] = []
    open_ends: dict[tuple[int, int, bytes], int] = {}
    for j, row in enumerate(rows.tolist()):
        chain = open_ends.pop((origin[j], step[j] - 1, obs[j].tobytes()), None) if step[j] > 1 else None
        if chain is None:
            chain = len(chains)
            chains.append([])
        chains[chain].append(row)
        open_ends[(origin[j], step[j], nxt[j].tobytes())] = chain
    return [np.asarray(c) for c in chains]


def generated_episode_rows(buffer: ReplayBuffer) -> list[np.ndarray]:
    """Row indices of each imported generated episode in a generated pool, in time order: a new
    episode starts where the episode seed or origin changes or the step within the episode does
    not follow the previous row's (:func:`import_generated` stores steps 1, 2, ...)."""
    n = buffer.size
    rows = np.arange(n) if n < buffer.capacity else (np.arange(n) + buffer.ptr) % buffer.capacity
    rows = rows[buffer.source[rows].numpy() == int(Source.SYNTHETIC)]
    if len(rows) == 0:
        return []
    seed, step = buffer.seed[rows].numpy(), buffer.rollout_step[rows].numpy()
    origin = buffer.origin[rows].numpy()
    cont = (seed[:-1] == seed[1:]) & (origin[:-1] == origin[1:]) & (step[1:] == step[:-1] + 1)
    return np.split(rows, np.flatnonzero(~cont) + 1)


def export_buffer(
    buffer: ReplayBuffer,
    robot: str,
    out: Path,
    what: str,
    *,
    max_episodes: int | None = None,
    render: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    task: str | None = None,
    generated: str | None = None,
) -> dict[str, Any]:
    """Writes the buffer's real (``what="real"``) or synthetic transitions as a LeRobot dataset:
    an episode is a plant episode (:func:`real_episode_rows`) or one model rollout
    (:func:`synthetic_rollout_rows`), and ``max_episodes`` counts those.

    Args:
        render: for real episodes, ``render(seed, actions) -> [T, H, W, 3]`` frames (the
            plant replayed), written as ``observation.images.render`` video.
        generated: ``buffer`` is the generated pool of this origin (``generated:<g>@<v>``,
            ``what="synthetic"``): an episode is one generated episode
            (:func:`generated_episode_rows`), the dataset declares the origin in ``meta/info.json``
            (``synthgate.generated``, as :func:`write_generated` does, so :func:`import_generated`
            takes it back), and rows tagged ``<origin>:<scenario>`` keep the scenario in
            ``provenance.scenario``.

    Returns:
        A short summary (episodes, frames, path).
    """
    record = robots.get(robot)
    features = _layout_features(record)
    origins = list(buffer.origins)
    versions = [o.removeprefix("model/") for o in origins if o.startswith("model/")]
    if what == "real":
        groups = real_episode_rows(buffer)
    elif what == "synthetic":
        groups = synthetic_rollout_rows(buffer) if generated is None else generated_episode_rows(buffer)
    else:
        raise ValueError(f"what={what!r}: valid: real, synthetic")
    if generated is not None and (what != "synthetic" or not GENERATED.fullmatch(generated)):
        raise ValueError(f"generated={generated!r} needs what='synthetic' and a generated:<g>@<v> origin")
    if not groups:
        raise DatasetError(f"the buffer holds no {what} transitions to export")
    scenarios: list[str] = []
    scenario_of: dict[int, int] = {}  # origin id -> index into scenarios (generated rows only)
    if generated is not None:
        tagged = {i: o.removeprefix(f"{generated}:") for i, o in enumerate(origins) if o.startswith(f"{generated}:")}
        scenarios = sorted(set(tagged.values()))
        scenario_of = {i: scenarios.index(name) for i, name in tagged.items()}
    groups = groups[:max_episodes] if max_episodes else groups
    episodes = []
    for rows in groups:
        idx = torch.as_tensor(rows)
        origin_ids = buffer.origin[idx].numpy().astype(np.int64)
        version_ids = np.array([versions.index(origins[o][6:]) if origins[o].startswith("model/") else -1
                                for o in origin_ids], dtype=np.int64)  # fmt: skip
        terminated = buffer.terminated[idx].numpy()
        done = terminated.copy()
        done[-1] = True
        frames = {
            "observation.state": buffer.obs[idx].numpy(),
            "action": buffer.act[idx].numpy(),
            "next.observation.state": buffer.next_obs[idx].numpy(),
            "next.reward": buffer.rew[idx].numpy(),
            "next.terminated": terminated,
            "next.done": done,
            "provenance.source": buffer.source[idx].numpy().astype(np.int64),
            "provenance.origin": origin_ids,
            "provenance.model_version": version_ids,
            "provenance.scenario": np.array([scenario_of.get(int(o), -1) for o in origin_ids], dtype=np.int64),
            "provenance.seed": buffer.seed[idx].numpy(),
            "provenance.rollout_step": buffer.rollout_step[idx].numpy().astype(np.int64),
        }
        videos = {}
        if render is not None and what == "real":
            videos["observation.images.render"] = render(buffer.seed[idx][0].numpy(), frames["action"])
        label = f"generated by {generated}" if generated else f"{what} transitions"
        episodes.append(Episode(frames, task or f"{robot}: {label}", videos))
    fps = control_fps(robot)
    info = {
        "origins": origins,
        "model_versions": versions,
        "scenarios": scenarios,
        "provenance_features": PROVENANCE_DOC,
        "robot": robot,
        "observation_layout": record.layout.describe(),
        "episodes_are": "plant episodes" if what == "real" else
        "one branched model rollout each (from a real state; not plant trajectories)" if generated is None else
        f"the episodes of the outside generator {generated}, as the run imported them",
        "lerobot_imported": False,
        "written_by": "synthgate (pyarrow; LeRobot is not importable on Python 3.11 with a CPU torch)",
        **({"generated": generated} if generated else {}),
    }  # fmt: skip
    write_dataset(out, episodes, features, fps=fps, robot_type=robot, synthgate_info=info)
    return {"episodes": len(episodes), "frames": int(sum(len(g) for g in groups)), "path": str(out)}


def write_generated(
    out: Path,
    robot: str,
    episodes: list[dict[str, np.ndarray]],
    origin: str,
    *,
    scenario: str | None = None,
    task: str | None = None,
) -> dict[str, Any]:
    """Writes an outside generator's episodes as a LeRobot dataset that declares itself generated:
    ``synthgate.generated = origin`` in ``info.json``, ``provenance.source = 1`` on every frame, and
    ``provenance.scenario`` naming ``scenario`` (or -1). Each episode maps ``obs``, ``act``, ``rew``,
    ``next_obs`` and ``terminated`` to ``[T, ...]`` arrays. What a generator (or a stand-in for one)
    writes so that :func:`import_generated` takes it without further configuration.

    Raises:
        DatasetError: a malformed origin, or no episodes.
    """
    if not GENERATED.fullmatch(origin):
        raise DatasetError(f"origin {origin!r} is not generated:<generator>@<version>")
    if not episodes:
        raise DatasetError("no generated episodes to write")
    record = robots.get(robot)
    features = {k: v for k, v in _layout_features(record).items() if k not in ("provenance.origin",
                "provenance.model_version")}  # fmt: skip
    out_eps = []
    for i, ep in enumerate(episodes):
        n = len(ep["obs"])
        done = np.asarray(ep["terminated"], dtype=bool).copy()
        done[-1] = True
        frames = {
            "observation.state": np.asarray(ep["obs"], dtype=np.float32),
            "action": np.asarray(ep["act"], dtype=np.float32),
            "next.observation.state": np.asarray(ep["next_obs"], dtype=np.float32),
            "next.reward": np.asarray(ep["rew"], dtype=np.float32),
            "next.terminated": np.asarray(ep["terminated"], dtype=bool),
            "next.done": done,
            "provenance.source": np.full(n, int(Source.SYNTHETIC), dtype=np.int64),
            "provenance.scenario": np.full(n, 0 if scenario else -1, dtype=np.int64),
            "provenance.seed": np.full(n, i, dtype=np.int64),
            "provenance.rollout_step": np.arange(1, n + 1, dtype=np.int64),
        }
        out_eps.append(Episode(frames, task or f"{robot}: generated by {origin}"))
    info = {"generated": origin, "scenarios": [scenario] if scenario else [],
            "provenance_features": {k: v for k, v in PROVENANCE_DOC.items() if k in features}}  # fmt: skip
    fps = control_fps(robot)
    write_dataset(out, out_eps, features, fps=fps, robot_type=robot, synthgate_info=info)
    return {"episodes": len(out_eps), "frames": int(sum(e.length for e in out_eps)), "path": str(out)}


def _gather(
    ds: Dataset, names: list[str], width: int, side: str, record: robots.RobotRecord, check: bool
) -> np.ndarray:
    available = ds.features
    missing = [n for n in names if n not in available]
    if missing:
        listing = ", ".join(f"{k} {list(v.shape)}" for k, v in available.items())
        raise DatasetError(f"{side}: features {missing} are not in {ds.root}; it has: {listing}")
    sizes = [int(np.prod(available[n].shape)) for n in names]
    if sum(sizes) != width:
        lhs = " + ".join(f"{n} {list(available[n].shape)}" for n in names)
        rhs = ", ".join(f"{f['field']}[{f['size']}]" for f in record.layout.describe()) if "obs" in side else ""
        raise DatasetError(
            f"{side}: dataset gives {lhs} = {sum(sizes)} columns; robot {record.name} needs {width}"
            + (f" ({rhs})" if rhs else "")
        )
    if check and "obs" in side:
        names_ds = [x for n in names for x in (available[n].names or [])]
        if names_ds and names_ds != record.layout.column_names():
            diff = [(a, b) for a, b in zip(names_ds, record.layout.column_names(), strict=False) if a != b][:5]
            raise DatasetError(
                f"{side}: element names differ from {record.name}'s layout, first differences "
                f"(dataset, robot): {diff}; set check_names=false if the columns match by position"
            )
    return np.concatenate([ds.frames[n].reshape(len(ds.frames[n]), -1) for n in names], axis=1).astype(np.float32)


@dataclass(frozen=True)
class Transitions:
    """A dataset's transitions mapped onto a robot (everything read and checked, nothing stored)."""

    ds: Dataset
    obs: np.ndarray
    act: np.ndarray
    rew: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    keep: np.ndarray
    """The dataset frame behind each transition."""
    episode: np.ndarray
    """Each transition's episode index in the dataset."""


def read_transitions(cfg: DatasetImportConfig, robot: str) -> Transitions:
    """Reads ``cfg.path`` and maps its features onto ``robot``'s observation and action.

    Raises:
        DatasetError: missing files, unreadable parquet, shapes or names that disagree, non-finite values.
    """
    record = robots.get(robot)
    ds = read_dataset(Path(cfg.path))
    obs = _gather(ds, cfg.observation, record.layout.size, "observation", record, cfg.check_names)
    act = _gather(ds, [cfg.action], record.action_dim, "action", record, False)
    rew = _gather(ds, [cfg.reward], 1, "reward", record, False)[:, 0]
    if cfg.terminated is not None:
        term = _gather(ds, [cfg.terminated], 1, "terminated", record, False)[:, 0].astype(bool)
    else:
        term = np.zeros(len(obs), dtype=bool)
    if cfg.next_observation is not None:
        nxt = _gather(ds, cfg.next_observation, record.layout.size, "next observation", record, cfg.check_names)
        keep = np.arange(len(obs))
    else:  # s' is the next frame of the same episode; each episode's last frame has none
        keep = np.concatenate([np.arange(lo, hi - 1) for lo, hi in ds.episode_bounds])
        nxt = obs[keep + 1]
        obs, act, rew, term = obs[keep], act[keep], rew[keep], term[keep]
    if not (np.isfinite(obs).all() and np.isfinite(act).all() and np.isfinite(rew).all() and np.isfinite(nxt).all()):
        raise DatasetError(f"{ds.root}: non-finite values in the mapped observation, action or reward")
    episode = np.zeros(len(ds.frames["index"]), dtype=np.int64)
    for i, (lo, hi) in enumerate(ds.episode_bounds):
        episode[lo:hi] = i
    return Transitions(ds, obs, act, rew, nxt, term, keep, episode[keep])


def _add_by_origin(t: Transitions, origins: list[str], buffer: ReplayBuffer, source: Source) -> Counter[str]:
    """Adds the transitions grouped by origin, in order of first appearance; returns counts per origin
    and accumulates nothing else (evictions are the caller's: a generated pool never evicts)."""
    added: Counter[str] = Counter()
    for origin in dict.fromkeys(origins):
        rows = np.array([i for i, o in enumerate(origins) if o == origin])
        step = (rows - np.searchsorted(t.episode, t.episode[rows])) + 1 if source == Source.SYNTHETIC else 0
        evicted = buffer.add(t.obs[rows], t.act[rows], t.rew[rows], t.next_obs[rows], t.terminated[rows],
                             source=source, origin=origin, seed=torch.as_tensor(t.episode[rows]),
                             rollout_step=torch.as_tensor(step, dtype=torch.int16))  # fmt: skip
        assert not evicted, "the caller checks the free space first"
        added[origin] = len(rows)
    return added


def import_dataset(cfg: DatasetImportConfig, robot: str, buffer: ReplayBuffer) -> Counter[str]:
    """Adds a LeRobot dataset's transitions to ``buffer`` as real data.

    Everything is read and validated first; the buffer is written only when all of it is good, so
    a bad dataset leaves the buffer exactly as it was.

    Returns:
        The transitions added per origin (for the ledger).

    Raises:
        DatasetError: missing files, unreadable parquet, shapes or names that disagree, a dataset
            that declares itself generated or synthetic, or ``cfg.synthetic`` set (use
            :func:`import_generated`).
    """
    if cfg.synthetic:
        raise DatasetError(f"{cfg.path}: synthetic=true imports into a synthetic pool, never the real buffer")
    t = read_transitions(cfg, robot)
    declared = t.ds.info.get("synthgate", {}).get("generated")
    if declared is not None:
        raise DatasetError(f"{t.ds.root}: declares itself generated ({declared}, meta/info.json synthgate.generated): "
                           "import it with synthetic=true; generated data never goes to the real buffer")  # fmt: skip
    if len(t.obs) > buffer.capacity - buffer.size:
        raise DatasetError(f"{t.ds.root}: {len(t.obs)} transitions do not fit in the buffer's free space "
                           f"({buffer.capacity - buffer.size}); raise buffer_capacity")  # fmt: skip
    return _add_by_origin(t, _declared_origins(t.ds, t.keep), buffer, Source.REAL)


def generated_origin(cfg: DatasetImportConfig, ds: Dataset) -> str:
    """The ``generated:<generator>@<version>`` origin of a synthetic import: the config's or the
    dataset's declaration (``meta/info.json`` -> ``synthgate.generated``); both, if given, must agree.

    Raises:
        DatasetError: no origin declared, a malformed one, two that disagree, or rows the dataset
            declares real (``provenance.source = 0``).
    """
    declared = ds.info.get("synthgate", {}).get("generated")
    if cfg.origin is not None and declared is not None and cfg.origin != declared:
        raise DatasetError(f"{ds.root}: the import config says origin={cfg.origin} but the dataset declares "
                           f"{declared} (meta/info.json synthgate.generated); they must agree")  # fmt: skip
    origin = cfg.origin if cfg.origin is not None else declared
    if origin is None:
        raise DatasetError(f"{ds.root}: a generated dataset must declare its origin: set origin=generated:<generator>@"
                           "<version> in the import config, or synthgate.generated in meta/info.json")  # fmt: skip
    if not isinstance(origin, str) or not GENERATED.fullmatch(origin):
        raise DatasetError(f"{ds.root}: origin {origin!r} is not generated:<generator>@<version> "
                           "(letters, digits, '.', '_', '-'; the version may hold '+')")  # fmt: skip
    if "provenance.source" in ds.frames and (ds.frames["provenance.source"] == int(Source.REAL)).any():
        n = int((ds.frames["provenance.source"] == int(Source.REAL)).sum())
        raise DatasetError(f"{ds.root}: {n} rows are declared real (provenance.source = 0); a dataset that "
                           "declares itself real goes to the real path (synthetic=false)")  # fmt: skip
    return origin


def import_generated(
    cfg: DatasetImportConfig, robot: str, origins: list[str], device: torch.device | str = "cpu", ctx_dim: int = 0
) -> tuple[str, ReplayBuffer, Counter[str]]:
    """Reads an outside generator's episodes into a synthetic pool of their own.

    Each row's origin is ``generated:<generator>@<version>``, followed by ``:<scenario>`` when the
    dataset tags the row with one (``provenance.scenario`` indexing ``synthgate.scenarios``), so the
    ledger counts each scenario apart. ``rollout_step`` is the row's step within its generated
    episode (1, 2, ...).

    Returns:
        The origin, the pool (sized to the rows, sharing ``origins`` with the run's other buffers),
        and the rows per origin.

    Raises:
        DatasetError: as :func:`read_transitions` and :func:`generated_origin`.
    """
    if not cfg.synthetic:
        raise DatasetError(f"{cfg.path}: import_generated needs synthetic=true")
    t = read_transitions(cfg, robot)
    origin = generated_origin(cfg, t.ds)
    rows_origin = [origin] * len(t.keep)
    table = t.ds.info.get("synthgate", {}).get("scenarios")
    if "provenance.scenario" in t.ds.frames and isinstance(table, list):
        ids = t.ds.frames["provenance.scenario"].reshape(-1)[t.keep]
        if len(ids) and ids.max() >= len(table):
            raise DatasetError(f"{t.ds.root}: provenance.scenario indexes {int(ids.max())}, but synthgate.scenarios "
                               f"has {len(table)} entries")  # fmt: skip
        rows_origin = [f"{origin}:{table[int(i)]}" if i >= 0 else origin for i in ids]
    pool = ReplayBuffer(t.obs.shape[1], t.act.shape[1], max(len(t.obs), 1), device, origins, ctx_dim)
    return origin, pool, _add_by_origin(t, rows_origin, pool, Source.SYNTHETIC)


def _declared_origins(ds: Any, keep: np.ndarray) -> list[str]:
    """Each kept row's origin: ``lerobot:<path>``, followed by ``|<origin>`` when the dataset declares
    its rows' provenance (``provenance.origin`` indexing ``info.json``'s ``synthgate.origins``: a plant,
    or a deployment ``deploy:<bundle id>:<backend>``), so the ledger shows where the data came from.

    Raises:
        DatasetError: the dataset declares rows synthetic (world-model data is never imported as real).
    """
    base = f"lerobot:{ds.root}"
    table = ds.info.get("synthgate", {}).get("origins")
    if "provenance.origin" not in ds.frames or not isinstance(table, list):
        return [base] * len(keep)
    if "provenance.source" in ds.frames:
        source = ds.frames["provenance.source"].reshape(-1)[keep]
        if (source != int(Source.REAL)).any():
            raise DatasetError(f"{ds.root}: {int((source != int(Source.REAL)).sum())} rows are declared synthetic "
                               "(provenance.source = 1): world-model data is never imported as real")  # fmt: skip
    ids = ds.frames["provenance.origin"].reshape(-1)[keep]
    if len(ids) and (ids.min() < 0 or ids.max() >= len(table)):
        raise DatasetError(f"{ds.root}: provenance.origin indexes {int(ids.max())}, but synthgate.origins has "
                           f"{len(table)} entries")  # fmt: skip
    return [f"{base}|{table[int(i)]}" for i in ids]
