"""Buffers to LeRobot datasets and back: provenance kept, mapping validated, nothing lost on error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import robots
from pipeline.buffer import ReplayBuffer, Source
from pipeline.interchange import DatasetImportConfig, export_buffer, import_dataset, real_episode_rows
from robots.lerobot_format import DatasetError

ROBOT = "pendulum-swingup"  # obs 3, act 1


def _plant_buffer(episodes: int = 2, steps: int = 30) -> ReplayBuffer:
    """Real transitions from the plant (short episodes), then a few synthetic ones."""
    origins: list[str] = []
    buf = ReplayBuffer(3, 1, 1000, origins=origins)
    env = robots.make(ROBOT, max_episode_steps=steps)
    rng = np.random.default_rng(0)
    for ep in range(episodes):
        obs, _ = env.reset(seed=100 + ep)
        done = False
        while not done:
            act = rng.uniform(-1, 1, 1).astype(np.float32)
            nxt, rew, term, trunc, _ = env.step(act)
            buf.add(obs, act, float(rew), nxt, term, source=Source.REAL, origin=f"{ROBOT}/plant", seed=100 + ep)
            obs, done = nxt, term or trunc
    syn = torch.randn(7, 3)
    buf.add(syn, torch.zeros(7, 1), torch.ones(7), syn + 1, torch.zeros(7), source=Source.SYNTHETIC,
            origin="model/0123456789ab", seed=5, rollout_step=torch.arange(1, 8))  # fmt: skip
    return buf


def test_real_episodes_are_split_exactly() -> None:
    groups = real_episode_rows(_plant_buffer(episodes=3, steps=20))
    assert [len(g) for g in groups] == [20, 20, 20]
    assert [g[0] for g in groups] == [0, 20, 40]


def test_a_synthetic_episode_is_one_model_rollout(tmp_path: Path) -> None:
    """Issue 21, item 8: --episodes 3 of synthetic data gave 299,998 frames (an episode was a model version)."""
    from pipeline.interchange import synthetic_rollout_rows

    buf = ReplayBuffer(3, 1, 100, origins=[])
    starts = torch.randn(2, 3)
    states = [starts, starts + 1, starts + 3, starts + 6]  # two rollouts of 3 steps, stored step by step
    for h in range(3):
        buf.add(states[h], torch.zeros(2, 1), torch.ones(2), states[h + 1], torch.zeros(2),
                source=Source.SYNTHETIC, origin="model/0123456789ab", seed=5, rollout_step=h + 1)  # fmt: skip
    buf.add(starts, torch.zeros(2, 1), torch.ones(2), starts - 1, torch.zeros(2), source=Source.SYNTHETIC,
            origin="model/ba9876543210", seed=6, rollout_step=1)  # another version: two 1-step rollouts  # fmt: skip
    assert [g.tolist() for g in synthetic_rollout_rows(buf)] == [[0, 2, 4], [1, 3, 5], [6], [7]]
    summary = export_buffer(buf, ROBOT, tmp_path / "syn", "synthetic", max_episodes=1)
    assert (summary["episodes"], summary["frames"]) == (1, 3)


def test_export_then_import_gives_back_the_transitions(tmp_path: Path) -> None:
    buf = _plant_buffer()
    summary = export_buffer(buf, ROBOT, tmp_path / "real", "real")
    assert summary == {"episodes": 2, "frames": 60, "path": str(tmp_path / "real")}
    export_buffer(buf, ROBOT, tmp_path / "syn", "synthetic")
    info = json.loads((tmp_path / "syn" / "meta" / "info.json").read_text())
    assert info["synthgate"]["model_versions"] == ["0123456789ab"]
    assert "provenance.source" in info["synthgate"]["provenance_features"]

    fresh = ReplayBuffer(3, 1, 1000)
    added = import_dataset(DatasetImportConfig(path=str(tmp_path / "real")), ROBOT, fresh)
    assert added == {f"lerobot:{tmp_path / 'real'}|{ROBOT}/plant": 60}
    for name in ("obs", "act", "rew", "next_obs", "terminated"):
        torch.testing.assert_close(getattr(fresh, name)[:60], getattr(buf, name)[:60], rtol=0, atol=0)
    assert (fresh.source[:60] == Source.REAL).all()
    assert fresh.origins == [f"lerobot:{tmp_path / 'real'}|{ROBOT}/plant"]  # the declared origin is kept
    with pytest.raises(DatasetError, match="declared synthetic"):  # model data is never imported as real
        import_dataset(DatasetImportConfig(path=str(tmp_path / "syn")), ROBOT, fresh)
    assert fresh.size == 60

    # synthetic provenance survives the round trip as features
    from robots.lerobot_format import read_dataset

    ds = read_dataset(tmp_path / "syn")
    assert ds.frames["provenance.source"].reshape(-1).tolist() == [1] * 7
    assert ds.frames["provenance.rollout_step"].reshape(-1).tolist() == list(range(1, 8))
    assert ds.frames["provenance.model_version"].reshape(-1).tolist() == [0] * 7


def test_next_observation_from_the_following_frame(tmp_path: Path) -> None:
    buf = _plant_buffer()
    export_buffer(buf, ROBOT, tmp_path / "real", "real")
    fresh = ReplayBuffer(3, 1, 1000)
    cfg = DatasetImportConfig(path=str(tmp_path / "real"), next_observation=None, terminated=None)
    assert sum(import_dataset(cfg, ROBOT, fresh).values()) == 58  # each episode's last frame has no following frame
    torch.testing.assert_close(fresh.next_obs[:29], buf.next_obs[:29], rtol=0, atol=0)


def _filled() -> ReplayBuffer:
    buf = ReplayBuffer(3, 1, 1000)
    buf.add(torch.ones(5, 3), torch.zeros(5, 1), torch.ones(5), torch.ones(5, 3), torch.zeros(5),
            source=Source.REAL, origin="earlier", seed=1)  # fmt: skip
    return buf


def _snapshot(buf: ReplayBuffer) -> dict[str, object]:
    return {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in buf.state_dict().items()}


def _unchanged(buf: ReplayBuffer, before: dict[str, object]) -> None:
    after = buf.state_dict()
    for key, value in before.items():
        if isinstance(value, torch.Tensor):
            torch.testing.assert_close(after[key], value, rtol=0, atol=0)
        else:
            assert after[key] == value, key


@pytest.mark.parametrize("breakage", ["missing_info", "truncated", "shape", "mapping_name", "mapping_size"])
def test_bad_input_is_a_clear_error_and_loses_nothing(tmp_path: Path, breakage: str) -> None:
    root = tmp_path / "ds"
    export_buffer(_plant_buffer(), ROBOT, root, "real")
    cfg = DatasetImportConfig(path=str(root))
    message = ""
    if breakage == "missing_info":
        (root / "meta" / "info.json").unlink()
        message = "info.json is missing"
    elif breakage == "truncated":
        path = next((root / "data").glob("chunk-*/file-*.parquet"))
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
        message = "cannot read"
    elif breakage == "shape":
        info = json.loads((root / "meta" / "info.json").read_text())
        info["features"]["observation.state"]["shape"] = [4]
        (root / "meta" / "info.json").write_text(json.dumps(info))
        message = r"'observation.state' rows have \[3\] elements but info.json declares shape \[4\]"
    elif breakage == "mapping_name":
        cfg.observation = ["observation.joints"]
        message = r"features \['observation.joints'\] are not in .* it has: .*observation.state \[3\]"
    elif breakage == "mapping_size":
        cfg.observation = ["observation.state", "next.reward"]
        message = r"observation.state \[3\] \+ next.reward \[1\] = 4 columns; robot pendulum-swingup needs 3"
    buf = _filled()
    before = _snapshot(buf)
    with pytest.raises(DatasetError, match=message):
        import_dataset(cfg, ROBOT, buf)
    _unchanged(buf, before)


def test_element_names_must_match_unless_told_otherwise(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    export_buffer(_plant_buffer(), ROBOT, root, "real")
    info = json.loads((root / "meta" / "info.json").read_text())
    info["features"]["observation.state"]["names"] = ["cos", "sin", "omega"]
    (root / "meta" / "info.json").write_text(json.dumps(info))
    with pytest.raises(DatasetError, match=r"element names differ.*\('cos', 'orientation.zz'\)"):
        import_dataset(DatasetImportConfig(path=str(root)), ROBOT, ReplayBuffer(3, 1, 100))
    added = import_dataset(DatasetImportConfig(path=str(root), check_names=False), ROBOT, ReplayBuffer(3, 1, 100))
    n = sum(added.values())
    assert n == 60
