"""A tiny targeted-generation run: per-scenario ledger lines equal the synthetic buffer's contents
by origin, the drops are the generator's, TensorBoard has the per-scenario figures, and a resumed
run makes exactly the same synthetic data."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import torch
from helpers import synthgate
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import robots
from pipeline import checkpoint
from pipeline.buffer import ReplayBuffer
from pipeline.ledger import Ledger, scenario_of

TINY = [
    "robot=walker-walk", "algo=ftfl", "seed=3", "learning_starts=300", "eval_every=0", "eval_episodes=1",
    "log_every=150", "progress=false", "threads=1", "checkpoint_every=150", "sac.hidden=32", "algo.utd=1",
    "algo.retrain_every=150", "algo.rollouts_per_step=6", "algo.rollout_schedule=[0,1,2,2]", "algo.model.hidden=32",
    "algo.model.depth=2", "algo.model.weight_decay=[2.5e-5,5e-5,1e-4]", "algo.model.max_epochs=5",
    "+robot_settings.max_episode_steps=100", "scenarios=[push_recovery,weak_knee]", "exposure=0.5", "context=true",
    "targeted=true", "targeted_share=0.5", "targeted_disagreement=1.5",
]  # fmt: skip


def test_targeted_run_books_equal_the_synthetic_buffer(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    out = synthgate("train", *TINY, "steps=600", f"run_dir={run_dir}")
    assert out.returncode == 0, out.stderr
    found = checkpoint.load_latest(run_dir / "checkpoints")
    assert found is not None
    payload = found[1]
    ledger = Ledger()
    ledger.load_state_dict(payload["ledger"])
    state = payload["sources"]["model"]["pool"]
    syn = ReplayBuffer(state["obs"].shape[1], state["act"].shape[1], state["capacity"], ctx_dim=state["ctx"].shape[1])
    syn.load_state_dict(state)
    contents = syn.counts()
    assert {k: v for k, v in ledger.held().items() if k[0] == "synthetic"} == dict(contents)

    by_scenario = ledger.by_scenario()
    in_buffer: Counter[str] = Counter()
    for (_, origin), count in contents.items():
        in_buffer[scenario_of(origin)] += count
    assert set(in_buffer) == {"nominal", "push_recovery", "weak_knee"}
    for name, count in in_buffer.items():
        assert by_scenario[name]["synthetic_held"] == count
        assert by_scenario[name]["synthetic_generated"] == count  # nothing evicted in this tiny run

    events = [json.loads(line) for line in (run_dir / "ledger.jsonl").read_text().splitlines()]
    targeted = [e for e in events if e["kind"] == "targeted"]
    assert len(targeted) == 2 * 3  # two scenarios x retrains at 300, 450, 600
    for name in ("push_recovery", "weak_knee"):
        mine = [e for e in targeted if e["scenario"] == name]
        assert sum(e["stored"] for e in mine) == by_scenario[name]["synthetic_generated"]
        assert sum(e["transitions_dropped"] for e in mine) == by_scenario[name]["synthetic_dropped"]
        assert all(e["starts"] == 6 * 150 // 4 for e in mine)  # half of 900 starts, split in two
        assert all(e["origin"].startswith("model/") and e["origin"].endswith(f":{name}") for e in mine)
    assert sum(by_scenario[n]["synthetic_dropped"] for n in ("push_recovery", "weak_knee")) > 0

    # provenance: the context travels with the synthetic transitions; push and nominal rows carry none
    layout = robots.context_layout("walker-walk")
    origin_of = [syn.origins[i] for i in syn.origin[: syn.size].tolist()]
    knee = syn.ctx[: syn.size, layout.index("actuator_scale.right_knee")]
    weak_rows = torch.tensor([o.endswith(":weak_knee") for o in origin_of])
    assert ((knee[weak_rows] >= -0.8 - 1e-6) & (knee[weak_rows] <= -0.5 + 1e-6)).all()
    assert not syn.ctx[: syn.size][~weak_rows].any()
    assert set(syn.rollout_step[: syn.size].tolist()) <= {1, 2}

    table = synthgate("ledger", str(run_dir))
    assert table.returncode == 0
    rows = {line.split()[0]: line.split() for line in table.stdout.splitlines() if line.startswith("  ")}
    for name in ("push_recovery", "weak_knee"):
        row = by_scenario[name]
        assert rows[name][2:4] == [str(row["synthetic_generated"]), str(row["synthetic_dropped"])]
        assert float(rows[name][6]) == round(row["drop_rate"], 3)

    tags = EventAccumulator(str(run_dir / "tb")).Reload().Tags()["scalars"]
    for name in ("push_recovery", "weak_knee"):
        assert f"ledger/{name}/synthetic_share" in tags and f"ledger/{name}/drop_rate" in tags
        assert f"targeted/{name}/transitions_dropped" in tags

    # stop after the second rollout phase, resume: the same synthetic data, contexts and books
    split = tmp_path / "split"
    assert synthgate("train", *TINY, "steps=450", f"run_dir={split}").returncode == 0
    resumed = synthgate("train", *TINY, "steps=600", f"run_dir={split}")
    assert resumed.returncode == 0, resumed.stderr
    again = checkpoint.load_latest(split / "checkpoints")
    assert again is not None
    for name in ("obs", "next_obs", "ctx", "origin", "rollout_step"):
        torch.testing.assert_close(again[1]["sources"]["model"]["pool"][name], state[name], rtol=0, atol=0)
    assert again[1]["sources"]["model"]["pool"]["origins"] == state["origins"]
    assert again[1]["ledger"]["dropped"] == payload["ledger"]["dropped"]


def test_targeted_config_errors(tmp_path: Path) -> None:
    base = ["robot=walker-walk", "steps=10", "scenarios=[weak_knee]", f"run_dir={tmp_path}/a"]
    no_model = synthgate("train", *base, "algo=sac", "targeted=true", "context=true")
    assert no_model.returncode == 2 and "targeted=true needs a source to generate with" in no_model.stderr
    no_context = synthgate("train", *base, "algo=ftfl", "targeted=true")
    assert no_context.returncode == 2 and "targeted=true needs context=true" in no_context.stderr
    sensing = synthgate("train", "robot=quadruped-walk", "steps=10", "scenarios=[imu_dropout]", "algo=ftfl",
                        "targeted=true", "context=true", f"run_dir={tmp_path}/b")  # fmt: skip
    assert sensing.returncode == 2 and "cannot apply the sensing families ['obs_dropout']" in sensing.stderr
