"""Issue 22: an outside generator's episodes imported as synthetic data, with their provenance kept,
and every way of getting the declaration wrong refused before anything is stored."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.buffer import ReplayBuffer, Source
from pipeline.interchange import DatasetImportConfig, export_buffer, import_dataset, import_generated, write_generated
from robots.lerobot_format import DatasetError

ROBOT = "pendulum-swingup"  # obs 3, act 1
ORIGIN = "generated:standin@1.0"


def _episodes(n: int = 2, steps: int = 10) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        obs = rng.normal(size=(steps + 1, 3)).astype(np.float32)
        term = np.zeros(steps, dtype=bool)
        term[-1] = True
        out.append({"obs": obs[:-1], "act": rng.uniform(-1, 1, (steps, 1)), "rew": rng.normal(size=steps),
                    "next_obs": obs[1:], "terminated": term})  # fmt: skip
    return out


def _generated(tmp_path: Path, scenario: str | None = "slow_motor") -> Path:
    root = tmp_path / "gen"
    write_generated(root, ROBOT, _episodes(), ORIGIN, scenario=scenario)
    return root


def test_generated_rows_go_to_their_own_pool_with_origin_scenario_and_step(tmp_path: Path) -> None:
    root = _generated(tmp_path)
    origins: list[str] = ["pendulum-swingup/plant"]
    origin, pool, added = import_generated(DatasetImportConfig(path=str(root), synthetic=True), ROBOT, origins)
    assert origin == ORIGIN and added == {f"{ORIGIN}:slow_motor": 20}
    assert pool.size == 20 and (pool.source[:20] == Source.SYNTHETIC).all()
    assert pool.origins is origins and origins[-1] == f"{ORIGIN}:slow_motor"  # one id space with the run's buffers
    assert pool.rollout_step[:20].tolist() == list(range(1, 11)) * 2  # the step within its generated episode
    first = _episodes()[0]
    torch.testing.assert_close(pool.obs[:10], torch.as_tensor(first["obs"]), rtol=0, atol=0)
    # without a scenario tag the rows carry the bare origin
    _, _, added = import_generated(
        DatasetImportConfig(path=str(_generated(tmp_path / "b", None)), synthetic=True), ROBOT, []
    )
    assert added == {ORIGIN: 20}


def _strip_declaration(root: Path) -> None:
    info = json.loads((root / "meta" / "info.json").read_text())
    del info["synthgate"]["generated"]
    (root / "meta" / "info.json").write_text(json.dumps(info))


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("undeclared", "must declare its origin"),
        ("disagreeing", "must agree"),
        ("malformed", "is not generated:<generator>@<version>"),
        ("real dataset as generated", "declared real"),
        ("wrong layout", "robot cartpole-swingup needs 5"),
        ("generated dataset into the real buffer", "declares itself generated"),
        ("synthetic flag on the real path", "never the real buffer"),
    ],
)
def test_wrong_declarations_are_refused_and_store_nothing(tmp_path: Path, case: str, message: str) -> None:
    root = _generated(tmp_path)
    cfg = DatasetImportConfig(path=str(root), synthetic=True)
    robot = ROBOT
    real = ReplayBuffer(3, 1, 100)
    if case == "undeclared":
        _strip_declaration(root)
    elif case == "disagreeing":
        cfg = DatasetImportConfig(path=str(root), synthetic=True, origin="generated:standin@2.0")
    elif case == "malformed":
        _strip_declaration(root)
        cfg = DatasetImportConfig(path=str(root), synthetic=True, origin="standin")
    elif case == "real dataset as generated":
        buf = ReplayBuffer(3, 1, 50, origins=[])
        buf.add(torch.zeros(5, 3), torch.zeros(5, 1), torch.zeros(5), torch.zeros(5, 3), torch.zeros(5),
                source=Source.REAL, origin=f"{ROBOT}/plant", seed=1)  # fmt: skip
        export_buffer(buf, ROBOT, tmp_path / "real", "real")
        cfg = DatasetImportConfig(path=str(tmp_path / "real"), synthetic=True, origin=ORIGIN)
    elif case == "wrong layout":
        robot = "cartpole-swingup"
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        if case == "generated dataset into the real buffer":
            import_dataset(DatasetImportConfig(path=str(root)), ROBOT, real)
        elif case == "synthetic flag on the real path":
            import_dataset(cfg, ROBOT, real)
        else:
            import_generated(cfg, robot, [])
    assert real.size == 0


def test_an_origin_in_the_config_alone_is_enough(tmp_path: Path) -> None:
    root = _generated(tmp_path)
    _strip_declaration(root)
    origin, _, added = import_generated(DatasetImportConfig(path=str(root), synthetic=True, origin=ORIGIN), ROBOT, [])
    assert origin == ORIGIN and sum(added.values()) == 20
