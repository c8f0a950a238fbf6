"""Issue 22 end to end: a run that imports an outside generator's episodes keeps per-source books
equal to its buffers after the run and after a resume, mixes at the configured real ratio, and
shows each source's share in the ledger table and TensorBoard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import books_and_buffers, synthgate
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pipeline.interchange import write_generated
from pipeline.ledger import Ledger

ORIGIN = "generated:standin@1.0"
COMMON = ["robot=pendulum-swingup", "algo=sac", "algo.real_ratio=0.5", "learning_starts=200", "eval_every=0",
          "eval_episodes=1", "log_every=100", "progress=false", "threads=1", "checkpoint_every=200", "sac.hidden=32",
          "+robot_settings.max_episode_steps=100"]  # fmt: skip


def _dataset(root: Path) -> Path:
    rng = np.random.default_rng(0)
    episodes = []
    for _ in range(3):
        obs = rng.normal(size=(41, 3)).astype(np.float32)
        episodes.append({"obs": obs[:-1], "act": rng.uniform(-1, 1, (40, 1)), "rew": rng.normal(size=40),
                         "next_obs": obs[1:], "terminated": np.zeros(40, dtype=bool)})  # fmt: skip
    write_generated(root, "pendulum-swingup", episodes, ORIGIN, scenario="slow_motor")
    return root


def _books(run_dir: Path) -> dict[str, Any]:
    payload, held, contents = books_and_buffers(run_dir)
    assert held == contents
    assert contents[("synthetic", f"{ORIGIN}:slow_motor")] == 120
    ledger = Ledger()
    ledger.load_state_dict(payload["ledger"])
    return ledger.summary()


def test_generated_source_books_equal_buffers_after_run_and_resume(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "gen")
    run_dir = tmp_path / "run"
    imports = f"+import_datasets=[{{path: {data}, synthetic: true}}]"
    first = synthgate("train", *COMMON, imports, "steps=400", f"run_dir={run_dir}")
    assert first.returncode == 0, first.stderr
    summary = _books(run_dir)
    source = summary["by_synthetic_source"][ORIGIN]
    assert source["generated"] == 120 and source["consumed"] == 200 * 128  # 200 updates x 128 generated rows
    assert summary["consumed"] == {"real": 200 * 128, "synthetic": 200 * 128}
    assert summary["by_scenario"]["slow_motor"]["synthetic_generated"] == 120

    second = synthgate("train", *COMMON, imports, "steps=600", f"run_dir={run_dir}")
    assert second.returncode == 0, second.stderr
    summary = _books(run_dir)
    assert summary["by_synthetic_source"][ORIGIN]["generated"] == 120  # imported once, kept by the checkpoint
    assert summary["by_synthetic_source"][ORIGIN]["share"] == pytest.approx(0.5)

    table = synthgate("ledger", str(run_dir))
    assert table.returncode == 0 and ORIGIN in table.stdout and "real anchor: OK" in table.stdout
    acc = EventAccumulator(str(run_dir / "tb"))
    acc.Reload()
    shares = acc.Scalars(f"ledger/share/{ORIGIN}")
    assert shares and shares[-1].value == pytest.approx(0.5)


def test_a_share_for_a_source_the_run_lacks_is_refused(tmp_path: Path) -> None:
    bad = synthgate("train", *COMMON, "steps=10", f"run_dir={tmp_path / 'x'}", "+synthetic_shares={model: 1.0}")
    assert bad.returncode == 2 and "synthetic_shares.model: algo=sac has no world model" in bad.stderr
