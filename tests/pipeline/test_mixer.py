"""The mixer: the configured per-batch split, exactly, with provenance kept."""

from __future__ import annotations

import pytest
import torch

from pipeline.buffer import ReplayBuffer, Source, count_by_origin
from pipeline.mixer import Mixer


def _buffers() -> tuple[ReplayBuffer, ReplayBuffer]:
    origins: list[str] = []
    real, syn = ReplayBuffer(2, 1, 100, origins=origins), ReplayBuffer(2, 1, 1000, origins=origins)
    real.add(torch.zeros(50, 2), torch.zeros(50, 1), torch.zeros(50), torch.zeros(50, 2), torch.zeros(50),
             source=Source.REAL, origin="cartpole-swingup/plant", seed=1)  # fmt: skip
    return real, syn


@pytest.mark.parametrize("ratio", [0.05, 0.5, 0.0, 1.0])
def test_realized_ratio_is_the_configured_split(ratio: float) -> None:
    real, syn = _buffers()
    syn.add(torch.ones(500, 2), torch.zeros(500, 1), torch.zeros(500), torch.ones(500, 2), torch.zeros(500),
            source=Source.SYNTHETIC, origin="model/abc", seed=2, rollout_step=1)  # fmt: skip
    mixer = Mixer(ratio, 256)
    gen = torch.Generator().manual_seed(0)
    real_total = 0
    for _ in range(50):
        batch = mixer.sample(real, {"model": syn}, gen)
        composition = count_by_origin(batch.source, batch.origin, real.origins)
        n_real = int((batch.source == Source.REAL).sum())
        assert n_real == round(ratio * 256)  # exactly, every batch: a split, not a coin flip
        assert composition[("real", "cartpole-swingup/plant")] == n_real
        assert composition[("synthetic", "model/abc")] == 256 - n_real
        # provenance travels with every row
        assert (batch.obs[batch.source == Source.SYNTHETIC] == 1).all()
        assert (batch.rollout_step[batch.source == Source.REAL] == 0).all()
        real_total += n_real
    assert real_total / (50 * 256) == pytest.approx(ratio, abs=1 / 256)


def test_all_real_while_synthetic_is_empty_and_tables_must_be_shared() -> None:
    real, syn = _buffers()
    batch = Mixer(0.05, 64).sample(real, {"model": syn}, torch.Generator().manual_seed(0))
    assert (batch.source == Source.REAL).all() and batch.obs.shape[0] == 64
    alone = ReplayBuffer(2, 1, 10)
    alone.add(torch.zeros(2), torch.zeros(1), 0.0, torch.zeros(2), False, source=Source.SYNTHETIC, origin="m", seed=0)
    with pytest.raises(ValueError, match="share one origin table"):
        Mixer(0.5, 8).sample(real, {"model": alone}, torch.Generator())


def test_ledger_counts_batches_across_new_origins() -> None:
    from pipeline.ledger import Ledger

    real, syn = _buffers()
    ledger = Ledger()
    gen = torch.Generator().manual_seed(0)
    mixer = Mixer(0.25, 16)
    for version in ("model/a", "model/b"):  # a new origin appears between batches
        syn.add(torch.ones(10, 2), torch.zeros(10, 1), torch.zeros(10), torch.ones(10, 2), torch.zeros(10),
                source=Source.SYNTHETIC, origin=version, seed=3)  # fmt: skip
        for _ in range(3):
            batch = mixer.sample(real, {"model": syn}, gen)
            assert ledger.on_batch(batch.source, batch.origin, real.origins) == pytest.approx(12 / 16)
    consumed = ledger.consumed_counts()
    assert consumed[("real", "cartpole-swingup/plant")] == 6 * 4
    assert consumed[("synthetic", "model/a")] + consumed[("synthetic", "model/b")] == 6 * 12
    assert consumed[("synthetic", "model/b")] > 0
    assert ledger.summary()["consumed"] == {"real": 24, "synthetic": 72}


def _pool(origins: list[str], origin: str, n: int, value: float) -> ReplayBuffer:
    pool = ReplayBuffer(2, 1, n, origins=origins)
    pool.add(torch.full((n, 2), value), torch.zeros(n, 1), torch.zeros(n), torch.full((n, 2), value), torch.zeros(n),
             source=Source.SYNTHETIC, origin=origin, seed=4, rollout_step=1)  # fmt: skip
    return pool


@pytest.mark.parametrize(
    ("ratio", "shares", "expected"),
    [
        (0.5, {"model": 3.0, "generated:standin@1": 1.0}, {"model": 96, "generated:standin@1": 32}),
        (0.05, {}, {"model": 122, "generated:standin@1": 121}),  # no shares: even, the remainder to the first
        (0.25, {"generated:standin@1": 2.0}, {"model": 64, "generated:standin@1": 128}),  # model left out: weight 1
    ],
)
def test_realized_per_source_shares_are_the_configured_ones(
    ratio: float, shares: dict[str, float], expected: dict[str, int]
) -> None:
    """Issue 22: a share is a source's part of the synthetic rows of every batch, split exactly."""
    real, _ = _buffers()
    pools = {"model": _pool(real.origins, "model/abc", 300, 1.0),
             "generated:standin@1": _pool(real.origins, "generated:standin@1", 200, 2.0)}  # fmt: skip
    mixer = Mixer(ratio, 256, shares)
    gen = torch.Generator().manual_seed(0)
    totals = {"model": 0, "generated:standin@1": 0}
    for _ in range(40):
        batch = mixer.sample(real, pools, gen)
        composition = count_by_origin(batch.source, batch.origin, real.origins)
        assert composition[("real", "cartpole-swingup/plant")] == round(ratio * 256)
        for name, origin, value in (("model", "model/abc", 1.0), ("generated:standin@1", "generated:standin@1", 2.0)):
            assert composition[("synthetic", origin)] == expected[name]
            assert (batch.obs[batch.origin == real.origins.index(origin)] == value).all()  # rows are the pool's
            totals[name] += expected[name]
    synthetic = 256 - round(ratio * 256)
    weights = {k: shares.get(k, 1.0) for k in totals}
    for name, total in totals.items():  # realized over all batches = configured, within one row of rounding
        assert total / (40 * synthetic) == pytest.approx(weights[name] / sum(weights.values()), abs=1 / synthetic)


def test_an_empty_generated_pool_gives_its_rows_to_the_others_and_bad_shares_are_refused() -> None:
    real, _ = _buffers()
    pools = {
        "model": _pool(real.origins, "model/abc", 300, 1.0),
        "generated:standin@1": ReplayBuffer(2, 1, 5, origins=real.origins),
    }
    batch = Mixer(0.5, 64, {"generated:standin@1": 5.0}).sample(real, pools, torch.Generator().manual_seed(0))
    assert (
        int((batch.source == Source.SYNTHETIC).sum()) == 32 and (batch.obs[batch.source == Source.SYNTHETIC] == 1).all()
    )
    with pytest.raises(ValueError, match="must be > 0"):
        Mixer(0.5, 64, {"model": 0.0})
