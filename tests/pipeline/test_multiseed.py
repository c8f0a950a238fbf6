"""Stacked seeds (pipeline.multiseed): S seeds in one batched update are S independent SAC agents."""

from __future__ import annotations

import math

import pytest
import torch

from pipeline.buffer import Batch
from pipeline.multiseed import StackedSAC, stack_agents, stack_batches, stacked_sac_update, unstack_agent
from pipeline.sac import SACHyper, SACState, make_sac, sac_update

OBS, ACT, HIDDEN, B = 5, 2, 32, 64
LR = {"lr_actor": 3e-4, "lr_critic": 1e-3, "lr_alpha": 3e-4}
HP = SACHyper(gamma=0.99, tau=0.05, target_entropy=-2.0, log_std_min=-5.0, log_std_max=2.0)


def _agent(seed: int) -> SACState:
    gen = torch.Generator().manual_seed(seed)
    return make_sac(OBS, ACT, hidden=HIDDEN, depth=2, lr_actor=LR["lr_actor"], lr_critic=LR["lr_critic"],
                    lr_alpha=LR["lr_alpha"], init_alpha=0.1 * (seed + 1), log_std_min=-5.0, log_std_max=2.0,
                    device=torch.device("cpu"), generator=gen)  # fmt: skip


def _batch(seed: int, step: int) -> Batch:
    g = torch.Generator().manual_seed(1000 * seed + step)
    return Batch(
        obs=torch.randn(B, OBS, generator=g),
        act=torch.rand(B, ACT, generator=g) * 2 - 1,
        rew=torch.randn(B, generator=g),
        next_obs=torch.randn(B, OBS, generator=g),
        terminated=torch.rand(B, generator=g) < 0.1,
        source=torch.zeros(B, dtype=torch.uint8),
        origin=torch.zeros(B, dtype=torch.int32),
        seed=torch.zeros(B, dtype=torch.int64),
        rollout_step=torch.zeros(B, dtype=torch.int16),
    )


def _unstacked(stacked: StackedSAC, s: int) -> SACState:
    out = _agent(99)
    unstack_agent(stacked, s, out)
    return out


def _close(a: SACState, b: SACState, atol: float = 2e-6) -> bool:
    pairs = [(a.log_alpha, b.log_alpha)]
    for net in ("actor", "critic", "critic_target"):
        pairs += list(zip(getattr(a, net).parameters(), getattr(b, net).parameters(), strict=True))
    return all(torch.allclose(x.detach(), y.detach(), rtol=1e-5, atol=atol) for x, y in pairs)


def _equal(a: SACState, b: SACState) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return torch.equal(sa["log_alpha"], sb["log_alpha"]) and all(
        torch.equal(sa[n][k], sb[n][k]) for n in ("actor", "critic", "critic_target") for k in sa[n]
    )


def test_stack_then_unstack_round_trips_the_weights() -> None:
    agents = [_agent(s) for s in range(3)]
    stacked = stack_agents(agents, **LR)
    assert stacked.log_alpha.shape == (3,)
    for s, agent in enumerate(agents):
        assert _equal(_unstacked(stacked, s), agent)
    obs = torch.randn(3, 7, OBS)
    act = torch.rand(3, 7, ACT) * 2 - 1
    q = stacked.critic(obs, act)
    for s, agent in enumerate(agents):  # seed s's critics are members 2s and 2s + 1
        assert torch.allclose(q[s], agent.critic(obs[s], act[s]), atol=1e-6)
        assert torch.allclose(stacked.actor.deterministic(obs)[s], agent.actor.deterministic(obs[s]), atol=1e-6)


def test_stacked_seeds_update_exactly_like_separate_agents() -> None:
    seeds = 3
    singles = [_agent(s) for s in range(seeds)]
    stacked = stack_agents([_agent(s) for s in range(seeds)], **LR)
    gens_single = [torch.Generator().manual_seed(50 + s) for s in range(seeds)]
    gens_stacked = [torch.Generator().manual_seed(50 + s) for s in range(seeds)]
    for step in range(12):
        batches = [_batch(s, step) for s in range(seeds)]
        metrics = [sac_update(singles[s], batches[s], gens_single[s], HP) for s in range(seeds)]
        stacked_metrics = stacked_sac_update(stacked, stack_batches(batches), gens_stacked, HP)
        for key in ("critic/loss", "actor/loss", "alpha/loss", "alpha/value", "actor/entropy"):
            want = torch.stack([m[key] for m in metrics])
            assert torch.allclose(stacked_metrics[key], want, rtol=1e-4, atol=1e-5), (step, key)
        assert stacked_metrics["faults/skipped"].sum() == 0
    for s in range(seeds):
        assert _close(_unstacked(stacked, s), singles[s]), s
    # the seeds kept their own temperatures (they started at 0.1, 0.2, 0.3)
    alphas = stacked.log_alpha.detach().exp()
    assert alphas[0] < alphas[1] < alphas[2]
    assert not _close(_unstacked(stacked, 0), _unstacked(stacked, 1), atol=1e-3)


@pytest.mark.parametrize("bad_step", [0, 1])
def test_a_seed_with_a_nonfinite_critic_loss_changes_nothing_and_the_others_update(bad_step: int) -> None:
    seeds, bad = 3, 1
    singles = [_agent(s) for s in range(seeds)]
    stacked = stack_agents([_agent(s) for s in range(seeds)], **LR)
    gens_single = [torch.Generator().manual_seed(7 + s) for s in range(seeds)]
    gens_stacked = [torch.Generator().manual_seed(7 + s) for s in range(seeds)]
    before = None
    for step in range(bad_step + 1):
        batches = [_batch(s, step) for s in range(seeds)]
        if step == bad_step:
            before = _unstacked(stacked, bad)
            opt_before = {k: v.clone() for k, v in stacked.critic_opt.state.get(stacked.critic.net.layers[0].weight,
                                                                                 {}).items()}  # fmt: skip
            batches[bad] = Batch(**{**batches[bad].__dict__, "rew": batches[bad].rew.clone().fill_(math.nan)})
        out = [sac_update(singles[s], batches[s], gens_single[s], HP) for s in range(seeds)]
        metrics = stacked_sac_update(stacked, stack_batches(batches), gens_stacked, HP)
    assert "faults/skipped" in out[bad]
    assert metrics["faults/skipped"].tolist() == [0.0, 1.0, 0.0]
    assert before is not None and _equal(_unstacked(stacked, bad), before)
    assert _close(_unstacked(stacked, bad), singles[bad])
    for s in (0, 2):
        assert _close(_unstacked(stacked, s), singles[s]), s
    moments = stacked.critic_opt.state[stacked.critic.net.layers[0].weight]
    rows = slice(2 * bad, 2 * bad + 2)
    for key in ("exp_avg", "exp_avg_sq"):  # the skipped seed's Adam moments are as they were (zeros at first)
        want = opt_before[key][rows] if key in opt_before else torch.zeros_like(moments[key][rows])
        assert torch.equal(moments[key][rows], want)
        assert torch.isfinite(moments[key]).all()


def test_a_seed_with_a_nonfinite_actor_loss_keeps_only_its_critic_step() -> None:
    seeds, bad, j = 2, 0, 3
    singles = [_agent(s) for s in range(seeds)]
    copies = [_agent(s) for s in range(seeds)]
    with torch.no_grad():  # seed 0: the actor blows up on feature j, which its critics ignore
        for agent in (singles[bad], copies[bad]):
            agent.actor.net[0].weight[:, j] = 10.0
            agent.actor.net[2].weight.abs_()
            for critic in (agent.critic, agent.critic_target):
                critic.net.layers[0].weight[:, j, :] = 0.0
    stacked = stack_agents(copies, **LR)
    gens_single = [torch.Generator().manual_seed(3 + s) for s in range(seeds)]
    gens_stacked = [torch.Generator().manual_seed(3 + s) for s in range(seeds)]
    for step in range(2):
        batches = [_batch(s, step) for s in range(seeds)]
        for b in batches:
            b.obs[:, j] = 0.0
            b.next_obs[:, j] = 0.0
        if step == 1:
            batches[bad].obs[:, j] = 3e38
            actor_before = _unstacked(stacked, bad)
        out = [sac_update(singles[s], batches[s], gens_single[s], HP) for s in range(seeds)]
        metrics = stacked_sac_update(stacked, stack_batches(batches), gens_stacked, HP)
    assert "faults/actor_skipped" in out[bad] and "faults/actor_skipped" not in out[1 - bad]
    assert metrics["faults/actor_skipped"].tolist() == [1.0, 0.0] and metrics["faults/skipped"].sum() == 0
    now = _unstacked(stacked, bad)
    assert all(torch.equal(a, b) for a, b in zip(now.actor.parameters(), actor_before.actor.parameters(), strict=True))
    assert torch.equal(now.log_alpha, actor_before.log_alpha)
    assert not torch.equal(now.critic.net.layers[0].weight, actor_before.critic.net.layers[0].weight)
    for s in range(seeds):
        assert _close(_unstacked(stacked, s), singles[s]), s


def test_stacked_update_rejects_mismatched_inputs() -> None:
    stacked = stack_agents([_agent(0), _agent(1)], **LR)
    with pytest.raises(ValueError, match="2 seeds need a batch of shape"):
        stacked_sac_update(stacked, stack_batches([_batch(0, 0)] * 3), [torch.Generator()] * 3, HP)
    with pytest.raises(ValueError, match="differ in shape"):
        other = make_sac(OBS, ACT, hidden=16, depth=2, lr_actor=1e-3, lr_critic=1e-3, lr_alpha=1e-3, init_alpha=0.1,
                         log_std_min=-5.0, log_std_max=2.0, device=torch.device("cpu"),
                         generator=torch.Generator())  # fmt: skip
        stack_agents([_agent(0), other], **LR)


def test_trained_agents_stacked_and_unstacked_keep_their_adam_state_and_continue_as_lone_agents() -> None:
    """A resumed run stacks agents that have Adam moments; unstacking writes them back. Either way
    the seeds go on exactly as lone agents would (fresh optimizers here would change every step)."""
    seeds = 2
    singles = [_agent(s) for s in range(seeds)]
    gens_single = [torch.Generator().manual_seed(20 + s) for s in range(seeds)]
    for step in range(3):
        for s in range(seeds):
            sac_update(singles[s], _batch(s, step), gens_single[s], HP)
    copies = [_agent(s) for s in range(seeds)]
    for s in range(seeds):
        copies[s].load_state_dict(singles[s].state_dict())
    stacked = stack_agents(copies, **LR)
    gens_stacked = [torch.Generator().set_state(g.get_state()) for g in gens_single]
    for step in range(3, 6):
        batches = [_batch(s, step) for s in range(seeds)]
        for s in range(seeds):
            sac_update(singles[s], batches[s], gens_single[s], HP)
        stacked_sac_update(stacked, stack_batches(batches), gens_stacked, HP)
    for s in range(seeds):
        lone = _unstacked(stacked, s)
        assert _close(lone, singles[s]), s
        want, got = singles[s].state_dict(), lone.state_dict()
        for opt in ("actor_opt", "critic_opt", "alpha_opt"):
            assert want[opt]["state"].keys() == got[opt]["state"].keys()
            for i, st in want[opt]["state"].items():
                assert float(got[opt]["state"][i]["step"]) == float(st["step"]) == 6.0
                for key in ("exp_avg", "exp_avg_sq"):
                    assert got[opt]["state"][i][key].shape == st[key].shape
                    assert torch.allclose(got[opt]["state"][i][key], st[key], rtol=1e-4, atol=1e-8), (s, opt, i, key)
        # the unstacked agent trains on as the lone one does
        g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
        sac_update(lone, _batch(s, 9), g1, HP)
        sac_update(singles[s], _batch(s, 9), g2, HP)
        assert _close(lone, singles[s]), s


def test_agents_at_different_adam_steps_are_refused() -> None:
    a, b = _agent(0), _agent(1)
    sac_update(a, _batch(0, 0), torch.Generator().manual_seed(0), HP)
    with pytest.raises(ValueError, match="different steps"):
        stack_agents([a, b], **LR)


def test_agents_whose_optimizers_are_at_different_steps_from_each_other_stack_per_optimizer() -> None:
    """A lone agent that skipped an actor step has its actor optimizer one step behind its critic's;
    seeds that agree optimizer by optimizer stack, and each optimizer keeps its own count."""
    agents = [_agent(s) for s in range(2)]
    for s, agent in enumerate(agents):
        for step in range(3):
            sac_update(agent, _batch(s, step), torch.Generator().manual_seed(step), HP)
        for st in agent.actor_opt.state.values():  # as if the third update's actor step was skipped
            st["step"] -= 1
    stacked = stack_agents(agents, **LR)
    for s in range(2):
        lone = _unstacked(stacked, s)
        assert {float(st["step"]) for st in lone.actor_opt.state.values()} == {2.0}
        assert {float(st["step"]) for st in lone.critic_opt.state.values()} == {3.0}
