"""SAC losses against values computed by hand, and one toy problem with a known answer."""

from __future__ import annotations

import math

import pytest
import torch

from pipeline.buffer import Batch, ReplayBuffer, Source
from pipeline.sac import SACHyper, SACState, actor_loss, alpha_loss, critic_loss, make_sac, sac_update

GAMMA, ALPHA, LOG_STD = 0.99, 0.1, -1.5  # LOG_STD: -5 + 0.5 * (2 - -5) * (tanh(0) + 1)
MEAN = 0.5
HP = SACHyper(gamma=GAMMA, tau=0.005, target_entropy=-1.0, log_std_min=-5.0, log_std_max=2.0)


def _tiny_agent() -> SACState:
    """Actor: constant mean 0.5, log-std -1.5. Critics: Q0 = 2 (a + 1), Q1 = (a + 1) + 0.5."""
    state = make_sac(
        1, 1, hidden=1, depth=1, lr_actor=1e-3, lr_critic=1e-3, lr_alpha=1e-3, init_alpha=ALPHA,
        log_std_min=-5.0, log_std_max=2.0, device=torch.device("cpu"), generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    with torch.no_grad():
        for p in state.actor.parameters():
            p.zero_()
        state.actor.net[-1].bias.copy_(torch.tensor([MEAN, 0.0]))
        for critic in (state.critic, state.critic_target):
            first, last = critic.net.layers
            first.weight.copy_(torch.tensor([[[0.0], [1.0]], [[0.0], [1.0]]]))  # reads the action only
            first.bias.fill_(1.0)
            last.weight.copy_(torch.tensor([[[2.0]], [[1.0]]]))
            last.bias.copy_(torch.tensor([[[0.0]], [[0.5]]]))
    return state


def _batch() -> Batch:
    return Batch(
        obs=torch.tensor([[0.3], [-0.2]]),
        act=torch.tensor([[0.2], [-0.8]]),
        rew=torch.tensor([1.0, 0.5]),
        next_obs=torch.tensor([[0.1], [0.4]]),
        terminated=torch.tensor([False, True]),
        source=torch.zeros(2, dtype=torch.uint8),
        origin=torch.zeros(2, dtype=torch.int32),
        seed=torch.zeros(2, dtype=torch.int64),
        rollout_step=torch.zeros(2, dtype=torch.int16),
    )


def _hand_sample(eps: float) -> tuple[float, float]:
    """tanh-Gaussian action and log-density, written out with scalar math."""
    u = MEAN + math.exp(LOG_STD) * eps
    a = math.tanh(u)
    log_normal = -0.5 * eps**2 - LOG_STD - 0.5 * math.log(2 * math.pi)
    return a, log_normal - math.log(1 - a**2)


def _q(a: float) -> tuple[float, float]:
    return 2 * (a + 1), (a + 1) + 0.5


def test_sample_matches_hand_computation() -> None:
    state = _tiny_agent()
    act, logp = state.actor.sample(torch.zeros(2, 1), torch.tensor([[0.0], [1.0]]))
    for i, eps in enumerate((0.0, 1.0)):
        a, lp = _hand_sample(eps)
        assert act[i, 0].item() == pytest.approx(a, rel=1e-6)
        assert logp[i].item() == pytest.approx(lp, rel=1e-5)
    # one number worked fully by hand: eps = 0, a = tanh(0.5) = 0.462117,
    # log N = 1.5 - 0.918939 = 0.581061, log(1 - a^2) = log(0.786448) = -0.240229
    assert logp[0].item() == pytest.approx(0.821290, abs=1e-5)


def test_critic_loss_matches_hand_computation() -> None:
    state, batch = _tiny_agent(), _batch()
    eps_next = torch.tensor([[0.0], [1.0]])
    loss, metrics = critic_loss(state, batch, eps_next, HP)
    a0, lp0 = _hand_sample(0.0)
    y = [1.0 + GAMMA * (min(_q(a0)) - ALPHA * lp0), 0.5]  # second row terminated: no bootstrap
    expected = 0.0
    for member in (0, 1):
        expected += sum((_q(a)[member] - yb) ** 2 for a, yb in zip((0.2, -0.8), y, strict=True)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert metrics["critic/target_mean"].item() == pytest.approx(sum(y) / 2, rel=1e-5)


def test_actor_and_alpha_losses_match_hand_computation() -> None:
    state, batch = _tiny_agent(), _batch()
    loss, logp, _ = actor_loss(state, batch, torch.tensor([[1.0], [-2.0]]))
    samples = [_hand_sample(e) for e in (1.0, -2.0)]
    expected = sum(ALPHA * lp - min(_q(a)) for a, lp in samples) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    a_loss = alpha_loss(state.log_alpha, logp, HP.target_entropy)
    expected_alpha = -sum(math.log(ALPHA) * (lp - 1.0) for _, lp in samples) / 2
    assert a_loss.item() == pytest.approx(expected_alpha, rel=1e-5)


def test_actor_loss_leaves_no_gradient_on_critics_and_targets_follow_polyak() -> None:
    state, batch = _tiny_agent(), _batch()
    before_target = [p.clone() for p in state.critic_target.parameters()]
    metrics = sac_update(state, batch, torch.Generator().manual_seed(1), HP)
    assert all(torch.isfinite(v).all() for v in metrics.values())
    for old, new, online in zip(
        before_target, state.critic_target.parameters(), state.critic.parameters(), strict=True
    ):
        torch.testing.assert_close(new, old + HP.tau * (online - old))
    assert all(p.requires_grad for p in state.critic.parameters())
    assert all(not p.requires_grad for p in state.critic_target.parameters())


def test_temperature_falls_when_entropy_is_above_target() -> None:
    state = _tiny_agent()
    # log pi = -3 (entropy 3) against target -1: alpha must go down.
    loss = alpha_loss(state.log_alpha, torch.full((4,), -3.0), target_entropy=-1.0)
    loss.backward()
    assert state.log_alpha.grad is not None and state.log_alpha.grad.item() > 0


def test_sac_learns_a_one_step_problem_with_a_known_optimum() -> None:
    """Reward -(a - 0.5)^2, every step terminal: the policy's mode must go to a = 0.5."""
    gen = torch.Generator().manual_seed(0)
    state = make_sac(
        1, 1, hidden=32, depth=2, lr_actor=3e-3, lr_critic=3e-3, lr_alpha=3e-3, init_alpha=0.01,
        log_std_min=-5.0, log_std_max=2.0, device=torch.device("cpu"), generator=gen,
    )  # fmt: skip
    buffer = ReplayBuffer(1, 1, 4096)
    acts = torch.rand(4096, 1, generator=gen) * 2 - 1
    buffer.add(
        torch.ones(4096, 1), acts, -((acts[:, 0] - 0.5) ** 2), torch.ones(4096, 1), torch.ones(4096, dtype=torch.bool),
        source=Source.REAL, origin="toy", seed=0,
    )  # fmt: skip
    hp = SACHyper(gamma=0.99, tau=0.01, target_entropy=-3.0, log_std_min=-5.0, log_std_max=2.0)
    for _ in range(600):
        sac_update(state, buffer.sample(128, gen), gen, hp)
    mode = state.actor.deterministic(torch.ones(1, 1)).item()
    assert mode == pytest.approx(0.5, abs=0.1)


def test_the_anchor_adds_its_hand_computed_penalty_and_holds_the_actor_near_the_start() -> None:
    """``sac.anchor``: the actor loss gains ``w * mean |mu(s) - mu_0(s)|^2``. With the anchor at the
    actor's mode tanh(0.5), an actor moved to mean 0.8 pays w (tanh(0.8) - tanh(0.5))^2 per state.
    Under a critic that rewards larger actions, updates move the unanchored actor further from its
    start than the anchored one."""
    state, batch, eps = _tiny_agent(), _batch(), torch.tensor([[0.0], [1.0]])
    plain, _, _ = actor_loss(state, batch, eps)
    state.set_anchor()
    assert state.anchor is not None and not any(p.requires_grad for p in state.anchor.parameters())
    same, _, metrics = actor_loss(state, batch, eps, anchor=10.0)
    assert same.item() == pytest.approx(plain.item()) and metrics["actor/anchor_distance"].item() == 0.0
    with torch.no_grad():
        state.actor.net[-1].bias[0] = 0.8
    moved, _, _ = actor_loss(state, batch, eps)
    anchored, _, metrics = actor_loss(state, batch, eps, anchor=10.0)
    gap = (math.tanh(0.8) - math.tanh(0.5)) ** 2
    assert metrics["actor/anchor_distance"].item() == pytest.approx(gap, rel=1e-5)
    assert anchored.item() == pytest.approx(moved.item() + 10.0 * gap, rel=1e-5)

    def drift(weight: float) -> float:
        agent = _tiny_agent()
        agent.set_anchor()
        hp = SACHyper(gamma=GAMMA, tau=0.005, target_entropy=-1.0, log_std_min=-5.0, log_std_max=2.0, anchor=weight)
        gen = torch.Generator().manual_seed(0)
        for _ in range(200):
            sac_update(agent, batch, gen, hp)
        return abs(agent.actor.deterministic(batch.obs) - agent.anchor.deterministic(batch.obs)).max().item()  # type: ignore[union-attr]

    free, held = drift(0.0), drift(100.0)
    assert free > 0.05 and held < free / 5, (free, held)


def test_the_anchor_travels_with_the_agents_state() -> None:
    state = _tiny_agent()
    state.set_anchor()
    saved = state.state_dict()
    fresh = _tiny_agent()
    with torch.no_grad():
        for p in fresh.actor.parameters():
            p.add_(1.0)
    fresh.load_state_dict(saved)
    assert fresh.anchor is not None
    for a, b in zip(fresh.anchor.parameters(), state.anchor.parameters(), strict=True):  # type: ignore[union-attr]
        assert torch.equal(a, b)
    assert "anchor" not in _tiny_agent().state_dict()
