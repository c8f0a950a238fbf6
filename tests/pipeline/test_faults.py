"""Numerical faults: NaN injected into agent and model batches, diverged models, runs that stop."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from helpers import hyper
from kill_harness import assert_same, tiny_config

import pipeline.world_model as wm
from pipeline import faults
from pipeline.buffer import Batch, ReplayBuffer, Source
from pipeline.sac import SACHyper, make_sac, sac_update


def _agent() -> Any:
    return make_sac(3, 1, hidden=8, depth=1, lr_actor=1e-3, lr_critic=1e-3, lr_alpha=1e-3, init_alpha=0.1,
                    log_std_min=-5, log_std_max=2, device=torch.device("cpu"),
                    generator=torch.Generator().manual_seed(0))  # fmt: skip


def _batch(n: int = 16, nan_row: int | None = None) -> Batch:
    g = torch.Generator().manual_seed(1)
    rew = torch.randn(n, generator=g)
    if nan_row is not None:
        rew[nan_row] = math.nan
    return Batch(obs=torch.randn(n, 3, generator=g), act=torch.rand(n, 1, generator=g) * 2 - 1, rew=rew,
                 next_obs=torch.randn(n, 3, generator=g), terminated=torch.zeros(n, dtype=torch.bool),
                 source=torch.zeros(n, dtype=torch.uint8), origin=torch.zeros(n, dtype=torch.int32),
                 seed=torch.zeros(n, dtype=torch.int64), rollout_step=torch.zeros(n, dtype=torch.int16))  # fmt: skip


HP = SACHyper(gamma=0.99, tau=0.005, target_entropy=-1.0, log_std_min=-5, log_std_max=2)


def test_nan_in_an_agent_batch_skips_the_update_and_changes_nothing() -> None:
    agent = _agent()
    sac_update(agent, _batch(), torch.Generator().manual_seed(2), HP)  # optimizers now hold state
    before = _deep(agent.state_dict())
    metrics = sac_update(agent, _batch(nan_row=5), torch.Generator().manual_seed(3), HP)
    assert set(metrics) == {faults.SKIPPED}
    assert_same(_deep(agent.state_dict()), before)
    metrics = sac_update(agent, _batch(), torch.Generator().manual_seed(3), HP)  # a good batch does change it
    assert faults.SKIPPED not in metrics
    with pytest.raises(AssertionError):
        assert_same(_deep(agent.state_dict()), before)


def _deep(state: dict[str, Any]) -> dict[str, Any]:
    import copy

    return copy.deepcopy(state)


def _data(n: int = 400, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    obs, act = torch.randn(n, 3, generator=g), torch.rand(n, 1, generator=g) * 2 - 1
    nxt = obs + 0.1 * act
    return obs, act, (obs[:, 0] * act[:, 0]), nxt


def test_nan_in_a_model_batch_skips_the_step_and_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    inner, calls = wm.nll_loss, [0]

    def poisoned(model: Any, obs: torch.Tensor, act: torch.Tensor, target: torch.Tensor, ctx: Any = None) -> Any:
        calls[0] += 1
        if calls[0] in (2, 5):  # a NaN in the 2nd and 5th training batch
            obs = obs.clone()
            obs[0, 0, 0] = math.nan
        return inner(model, obs, act, target, ctx)

    obs, act, rew, nxt = _data()
    hp = hyper(max_epochs=3, batch_size=64)
    clean = wm.EnsembleDynamics(3, 1, hp)
    clean_report = wm.fit(clean, wm.make_optimizer(clean), obs, act, rew, nxt, torch.Generator().manual_seed(0))
    monkeypatch.setattr(wm, "nll_loss", poisoned)
    model = wm.EnsembleDynamics(3, 1, hp)
    report = wm.fit(model, wm.make_optimizer(model), obs, act, rew, nxt, torch.Generator().manual_seed(0))
    assert clean_report.skipped_steps == 0 and report.skipped_steps == 2
    assert report.steps == clean_report.steps - 2
    assert not faults.nonfinite_tensors(model.state_dict().items())
    assert all(math.isfinite(v) for v in report.holdout_mse)


def _model_state() -> SimpleNamespace:
    model = wm.EnsembleDynamics(3, 1, hyper(max_epochs=2, batch_size=64))
    return SimpleNamespace(model=model, model_opt=wm.make_optimizer(model), model_version="v-good", step=700,
                           agent=_agent(), buffer=None, sources={})  # fmt: skip


def _retrain(state: SimpleNamespace, poison: bool) -> dict[str, Any]:
    obs, act, rew, nxt = _data(seed=3)
    report = wm.fit(state.model, state.model_opt, obs, act, rew, nxt, torch.Generator().manual_seed(1))
    if poison:  # a retrain that diverged: a weight went to infinity
        with torch.no_grad():
            next(state.model.parameters())[0, 0, 0] = math.inf
    state.model_version = report.version
    return {"model/holdout_mse_elites": float(min(report.holdout_mse)), faults.MODEL_SKIPPED: 0.0}


def test_a_diverged_model_is_rolled_back_bit_for_bit_and_logged(tmp_path: Path) -> None:
    state = _model_state()
    log = faults.FaultLog(ledger_path=tmp_path / "ledger.jsonl")
    report = log.guard_retrain(state, state, lambda: _retrain(state, poison=False))  # one good retrain first
    assert report["faults/model_rolled_back"] == 0.0
    good_weights, good_opt = _deep(state.model.state_dict()), _deep(state.model_opt.state_dict())
    good_version = state.model_version
    report = log.guard_retrain(state, state, lambda: _retrain(state, poison=True))
    assert report["faults/model_rolled_back"] == 1.0
    assert_same(_deep(state.model.state_dict()), good_weights)
    assert_same(_deep(state.model_opt.state_dict()), good_opt)
    assert state.model_version == good_version and log.totals["model_rollbacks"] == 1
    event = json.loads((tmp_path / "ledger.jsonl").read_text().splitlines()[-1])
    assert event["kind"] == "model_rollback" and "non-finite weights" in event["reason"]
    assert event["restored_version"] == good_version


def test_a_holdout_error_far_above_the_last_good_one_counts_as_divergence() -> None:
    log = faults.FaultLog(model_divergence_factor=100.0, last_good_mse=0.01)
    model = wm.EnsembleDynamics(3, 1, hyper())
    assert log.divergence(model, {"model/holdout_mse_elites": 0.5}) is None
    assert "over 100 times" in str(log.divergence(model, {"model/holdout_mse_elites": 5.0}))
    assert "non-finite holdout" in str(log.divergence(model, {"model/holdout_mse_elites": math.nan}))


def test_consecutive_skips_stop_the_run_with_a_diagnosis(tmp_path: Path) -> None:
    agent = _agent()
    with torch.no_grad():
        next(agent.critic.parameters())[0, 0, 0] = math.nan
    buffer = ReplayBuffer(3, 1, 10)
    for i in range(6):
        buffer.add([math.nan if i == 4 else 0.0] * 3, [0.0], 0.0, [0.0] * 3, False, source=Source.REAL,
                   origin="x", seed=0)  # fmt: skip
    state = SimpleNamespace(agent=agent, buffer=buffer, sources={}, step=1234)
    log = faults.FaultLog(max_consecutive_skips=3, ledger_path=tmp_path / "ledger.jsonl")
    assert log.agent_step({faults.SKIPPED: torch.ones(())}, state) is False
    assert log.agent_step({"critic/loss": torch.ones(())}, state) is True  # a good update resets the streak
    assert log.agent_step({faults.SKIPPED: torch.ones(())}, state) is False
    assert log.agent_step({faults.SKIPPED: torch.ones(())}, state) is False
    with pytest.raises(faults.RunStopped) as stopped:
        log.agent_step({faults.SKIPPED: torch.ones(())}, state)
    message = str(stopped.value)
    assert "stopped at env step 1234: 3 agent updates in a row had a non-finite loss" in message
    assert "critic weights are not finite" in message and "lower sac.lr_critic" in message
    assert "the real buffer holds 1 transition(s) with non-finite values (rows 4)" in message
    event = json.loads((tmp_path / "ledger.jsonl").read_text().splitlines()[-1])
    assert event["kind"] == "stopped" and event["totals"] == {"agent_skipped": 4}


def test_nan_agent_batches_in_a_run_are_skipped_counted_and_ledgered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from pipeline import mixer
    from pipeline.train import train

    inner, calls = mixer.Mixer.sample, [0]

    def poisoned(self: Any, real: Any, synthetic: Any, generator: torch.Generator) -> Batch:
        batch = inner(self, real, synthetic, generator)
        calls[0] += 1
        if calls[0] % 10 == 0:  # every 10th agent batch carries a NaN reward
            batch.rew[3] = math.nan
        return batch

    monkeypatch.setattr(mixer.Mixer, "sample", poisoned)
    summary = train(tiny_config(tmp_path / "run"))
    injected = calls[0] // 10
    assert injected == 30  # 300 updates after learning_starts=100
    assert summary["updates"] == calls[0] - injected
    assert summary["ledger"]["batches"] == summary["updates"]  # a skipped batch taught nothing: not consumed
    events = [json.loads(line) for line in (tmp_path / "run" / "ledger.jsonl").read_text().splitlines()]
    assert sum(e.get("agent_skipped", 0) for e in events if e["kind"] == "faults") == injected
    acc = EventAccumulator(str(tmp_path / "run" / "tb"))
    acc.Reload()
    assert acc.Scalars("faults/agent_skipped_total")[-1].value == injected


def test_nan_in_real_data_rolls_the_model_back_then_stops_with_a_diagnosis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline import train as train_module

    inner = train_module.collect_real_step

    def collect(state: Any, *args: Any, **kwargs: Any) -> None:
        inner(state, *args, **kwargs)
        if state.step == 150:  # a plant reading goes bad after the first good retrain (at 100)
            state.buffer.rew[state.buffer.ptr - 1] = math.nan

    monkeypatch.setattr(train_module, "collect_real_step", collect)
    cfg = tiny_config(tmp_path / "run", algo="ftfl", steps=800)
    cfg.faults.max_consecutive_rollbacks = 2
    with pytest.raises(faults.RunStopped) as stopped:
        train_module.train(cfg)
    message = str(stopped.value)
    assert "stopped at env step 300: 2 world-model retrains in a row diverged" in message
    assert "the real buffer holds 1 transition(s) with non-finite values (rows 149)" in message
    events = [json.loads(line) for line in (tmp_path / "run" / "ledger.jsonl").read_text().splitlines()]
    rollbacks = [e for e in events if e["kind"] == "model_rollback"]
    first_version = next(e["version"] for e in events if e["kind"] == "retrain")
    assert [e["step"] for e in rollbacks] == [200, 300]
    assert all(e["restored_version"] == first_version for e in rollbacks)
    rollouts = [e for e in events if e["kind"] == "rollout"]
    assert [e["version"] for e in rollouts] == [first_version] * 2  # rollouts at 200 used the last good model
    assert events[-1]["kind"] == "stopped"
    assert not (tmp_path / "run" / "summary.json").exists()


def test_a_learning_rate_that_blows_up_the_critic_stops_the_command_with_exit_3(tmp_path: Path) -> None:
    from helpers import synthgate

    stopped = synthgate(
        "train", "robot=cartpole-swingup", "steps=400", "seed=2", "learning_starts=100", "eval_every=0",
        "eval_episodes=1", "log_every=50", "progress=false", "threads=1", "sac.hidden=16", "sac.batch_size=32",
        "+robot_settings.max_episode_steps=100", "sac.lr_critic=1e30", "faults.max_consecutive_skips=20",
        f"run_dir={tmp_path}/run",
    )  # fmt: skip
    assert stopped.returncode == 3, stopped.stderr
    assert "synthgate train: stopped at env step" in stopped.stderr and "20 agent updates in a row" in stopped.stderr
    assert "critic weights have exploded" in stopped.stderr and "lower sac.lr_critic" in stopped.stderr
    assert "Traceback" not in stopped.stderr and not (tmp_path / "run" / "summary.json").exists()


@pytest.mark.parametrize(("stacked", "checkpoint_every"), [(False, 1000), (False, 100), (True, 1000)])
def test_a_stopped_run_names_its_last_checkpoint_or_says_it_has_none(
    tmp_path: Path, stacked: bool, checkpoint_every: int
) -> None:
    """Issue 21, item 5: the message of a run stopped by a numerical fault never points at a
    checkpoint that does not exist: it names the newest one, or says there is none and what to do."""
    from pipeline.stacked_train import train_stacked
    from pipeline.train import train

    cfg = tiny_config(tmp_path / "run", checkpoint_every=checkpoint_every, stacked_seeds=[0, 3] if stacked else [])
    cfg.sac.lr_critic = 1e30  # the critic blows up soon after learning_starts=100
    cfg.faults.max_consecutive_skips = 20
    with pytest.raises(faults.RunStopped) as stopped:
        (train_stacked if stacked else train)(cfg)
    message = str(stopped.value)
    assert "20 agent updates in a row had a non-finite loss" in message
    if checkpoint_every == 100:
        assert "the last checkpoint, ckpt-000000100.pt (env step 100), holds the state before the fault" in message
    else:
        assert "last checkpoint" not in message and "checkpoints are at" not in message, message
        assert "no checkpoint yet" in message and "starts over from env step 0" in message, message
