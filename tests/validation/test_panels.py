"""Panels: held out, matched (common random numbers), batched without changing results."""

from __future__ import annotations

import copy

import helpers as sft
import numpy as np
import pytest
import torch
from helpers import hyper

import robots
from pipeline import train
from pipeline.sac import Actor
from pipeline.world_model import EnsembleDynamics
from validation.panels import (
    NOMINAL,
    PANEL_STREAM,
    SYNTHETIC_STREAM,
    PanelSpec,
    _contexts,
    episode_frames,
    mixed_panel,
    panel_starts,
    real_panel,
    synthetic_panel,
)


def actor(seed: int) -> Actor:
    torch.manual_seed(seed)
    return Actor(11, 3, 16, 2, -5.0, 2.0)


def spec(**kw: object) -> PanelSpec:
    args: dict[str, object] = {"episodes": 4, "max_steps": 30, "seed": 5, "num_envs": 4, **kw}
    return PanelSpec("Hopper-v5", (sft.payload(), sft.weak_thigh()), **args)  # type: ignore[arg-type]


def test_panel_streams_are_never_drawn_by_training() -> None:
    training = {v for k, v in vars(train).items() if k.endswith("_STREAM") and isinstance(v, int)}
    assert training and PANEL_STREAM not in training and SYNTHETIC_STREAM not in training


def test_real_panel_is_matched_across_policies_and_independent_of_batching() -> None:
    a = actor(0)
    results, starts = real_panel(spec(), {"a": a, "a_again": a, "b": actor(1)})
    for cond in (NOMINAL, sft.PAYLOAD, sft.WEAK_THIGH):
        ra, rb = results["a"][cond], results["a_again"][cond]
        assert np.array_equal(ra.returns, rb.returns) and np.array_equal(ra.failure_step, rb.failure_step)
        assert len(ra) == 4 and (ra.length <= 30).all() and not ra.synthetic.any()
    masses = [d[0]["mass"] for d in starts.draws[sft.PAYLOAD]]
    assert len(set(masses)) == 4 and all(0.05 <= m <= 0.2 for m in masses)  # one draw per episode seed, in range
    assert starts.draws[NOMINAL] == [[], [], [], []]
    # One plant at a time gives what four stepped together give (up to float rounding: a batched
    # matmul may round differently from a single-row one).
    single, starts1 = real_panel(spec(num_envs=1), {"a": a})
    assert np.allclose(single["a"][sft.PAYLOAD].returns, results["a"][sft.PAYLOAD].returns, rtol=1e-6)
    assert np.array_equal(single["a"][sft.PAYLOAD].failure_step, results["a"][sft.PAYLOAD].failure_step)
    assert np.array_equal(starts1.obs[sft.PAYLOAD], starts.obs[sft.PAYLOAD])
    # Another panel seed is another panel.
    _, other = real_panel(spec(seed=6), {"a": a})
    assert not np.array_equal(other.obs[NOMINAL], starts.obs[NOMINAL])


def test_real_panel_scores_the_scenario_predicate() -> None:
    results, _ = real_panel(spec(max_steps=200), {"a": actor(0)})
    ep = results["a"][sft.PAYLOAD]
    # Hopper-v5 ends an episode when it tips: a failed episode ends on its failure step.
    assert ep.failed.any()
    assert np.array_equal(ep.failure_step[ep.failed], ep.length[ep.failed])


def test_episode_frames_replay_the_episode_the_panel_scored() -> None:
    """Issue 21, item 9: the report's frames of a failure are of the scored episode, up to its failure."""
    s = spec(max_steps=200, episodes=6)  # chunks of 4: episode 5 is in the second chunk
    results, _ = real_panel(s, {"a": actor(0)})
    ep = results["a"][sft.PAYLOAD]
    ci = [c.name for c in s.conditions()].index(sft.PAYLOAD)
    k = int(np.flatnonzero(ep.failed)[-1])
    frames, step = episode_frames(s, actor(0), ci, k, count=3)
    assert step == int(ep.failure_step[k]) and len(frames) == 3
    assert len({f.shape for f in frames}) == 1 and frames[0].ndim == 3 and frames[0].shape[2] == 3
    assert not np.array_equal(frames[0], frames[-1])  # the start and the failure look different


def test_synthetic_panel_uses_common_random_numbers_and_one_batch() -> None:
    s = spec()
    a = actor(0)
    _, starts = real_panel(s, {"a": a})
    torch.manual_seed(0)
    model = EnsembleDynamics(11, 3, hyper())
    synth = synthetic_panel(s, starts, {"a": a, "a_again": a, "b": actor(1)}, model)
    for cond in (NOMINAL, sft.PAYLOAD):
        x, y = synth["a"][cond], synth["a_again"][cond]
        assert np.array_equal(x.returns, y.returns) and np.array_equal(x.failed, y.failed)
        assert x.synthetic.all() and len(x) == 4 and (x.length <= 30).all()
    assert not np.array_equal(synth["a"][NOMINAL].returns, synth["b"][NOMINAL].returns)
    mixed = mixed_panel({"a": {c: e for c, e in real_panel(s, {"a": a})[0]["a"].items()}}, {"a": synth["a"]})
    assert len(mixed["a"][sft.PAYLOAD]) == 8 and mixed["a"][sft.PAYLOAD].synthetic.mean() == 0.5


def test_synthetic_rows_keep_their_random_numbers_when_others_end() -> None:
    """Ended rows leave the synthetic batch, yet every row still takes its own model noise and elite:
    a row's episode is the same whether the other rows run to the end or end at the first step."""
    s = spec(max_steps=25)
    starts = panel_starts(s)
    torch.manual_seed(0)
    model = EnsembleDynamics(11, 3, hyper(target="residual"))
    with torch.no_grad():  # a slow, input-dependent drift with small noise: rows run the whole episode
        last = model.layers[-1]
        last.weight.mul_(0.01)  # type: ignore[operator]
        last.bias.zero_()  # type: ignore[operator]
        last.bias[..., 12:] = -8.0  # type: ignore[index]
    whole = synthetic_panel(s, starts, {"a": actor(0)}, model)
    cut = copy.deepcopy(starts)
    cut.obs[NOMINAL][[0, 2]] = np.nan  # a NaN state: dropped at the first step
    cut.obs[sft.PAYLOAD][1] = np.nan
    ended = synthetic_panel(s, cut, {"a": actor(0)}, model)
    for cond, gone in ((NOMINAL, [0, 2]), (sft.PAYLOAD, [1]), (sft.WEAK_THIGH, [])):
        x, y = whole["a"][cond], ended["a"][cond]
        assert (y.length[gone] == 0).all() and y.invalid[gone].all()
        kept = np.setdiff1d(np.arange(4), gone)
        assert (x.length > 10).all()  # without the cut, every row runs on (most to the end) ...
        assert np.array_equal(y.length[kept], x.length[kept]) and np.array_equal(y.failed[kept], x.failed[kept])
        assert np.allclose(y.returns[kept], x.returns[kept], rtol=1e-5, atol=1e-6)  # ... and so do the others
    assert len(set(whole["a"][NOMINAL].returns.round(6))) == 4  # the rows differ from one another


def test_context_function_without_a_context_model_is_an_error() -> None:
    s = spec(episodes=1, max_steps=2)
    _, starts = real_panel(s, {"a": actor(0)})
    with pytest.raises(ValueError, match="no context input"):
        synthetic_panel(s, starts, {"a": actor(0)}, EnsembleDynamics(11, 3, hyper()),
                        context_fn=lambda sc, d: np.zeros(2))  # fmt: skip


def test_spec_checks_its_scenarios() -> None:
    with pytest.raises(ValueError, match="not of robot cheetah-run"):
        PanelSpec("cheetah-run", (sft.payload(),))
    with pytest.raises(ValueError, match="episodes"):
        PanelSpec("Hopper-v5", (), episodes=0)


def test_starts_from_resets_equal_the_real_panels_and_give_the_context() -> None:
    s = spec(episodes=3, max_steps=5)
    _, starts = real_panel(s, {"a": actor(0)})
    only = panel_starts(s)
    for cond in (NOMINAL, sft.PAYLOAD, sft.WEAK_THIGH):
        assert np.array_equal(only.obs[cond], starts.obs[cond]) and only.draws[cond] == starts.draws[cond]
    layout = robots.context_layout("Hopper-v5")
    model = EnsembleDynamics(11, 3, hyper(), ctx_dim=layout.size)
    ctx = _contexts(s, starts, model, None, torch.device("cpu")).numpy()
    assert ctx.shape == (9, layout.size) and (ctx[:3] == 0).all()  # nominal rows: the zero context
    masses = [d[0]["mass"] for d in starts.draws[sft.PAYLOAD]]
    assert np.allclose(ctx[3:6, layout.index("payload.torso")], masses)
    scales = [d[0]["scale"] for d in starts.draws[sft.WEAK_THIGH]]
    assert np.allclose(ctx[6:9, layout.index("actuator_scale.thigh_joint")], np.asarray(scales) - 1.0)
    synth = synthetic_panel(s, starts, {"a": actor(0)}, model)  # runs with the context model
    assert len(synth["a"][sft.PAYLOAD]) == 3


def test_the_real_panel_runs_on_the_runs_real_plant_and_refuses_runs_of_different_ones() -> None:
    """Issue 31: the real panel is the real plant (the runs' gap profile, or ``--gap``), not the sim."""
    from types import SimpleNamespace

    from pipeline.config import TrainConfig
    from pipeline.runs import RunError
    from validation.panels import _plant
    from validation.validate import PanelOptions, panel_spec

    def run(gap: str, name: str) -> SimpleNamespace:
        return SimpleNamespace(config=TrainConfig(robot="Hopper-v5", gap=gap), path=name)

    spec = panel_spec([run("default", "a"), run("default", "b")], (), PanelOptions(episodes=2))
    assert spec.gap == "default" and spec.to_json()["gap"] == "default"
    env = _plant(spec, spec.conditions()[0])
    real = robots.make("Hopper-v5", gap="default").unwrapped.mj_model  # type: ignore[attr-defined]
    np.testing.assert_array_equal(env.unwrapped.mj_model.actuator_gear, real.actuator_gear)  # type: ignore[attr-defined]
    with pytest.raises(RunError, match=r"different gap profiles \['default', 'none'\]: name the real plant"):
        panel_spec([run("default", "a"), run("none", "b")], (), PanelOptions(episodes=2))
    assert panel_spec([run("default", "a"), run("none", "b")], (), PanelOptions(episodes=2, gap="hard")).gap == "hard"
