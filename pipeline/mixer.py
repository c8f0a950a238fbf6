"""The one place that decides how real and synthetic data are mixed in the policy's batches."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from pipeline.buffer import Batch, ReplayBuffer

MODEL = "model"
"""The synthetic source of the run's own world model (its pool holds ``model/<version>`` rows)."""


class Mixer:
    """Draws agent batches from a real buffer and one pool per synthetic source.

    ``real_ratio`` is a **per-batch split**, not a per-sample coin flip: every batch of
    ``batch_size`` holds exactly ``n_real = round(real_ratio * batch_size)`` real transitions, drawn
    uniformly with replacement from the real buffer. The other ``batch_size - n_real`` rows are
    synthetic, split between the synthetic sources (``model``, the run's own world model, and each
    ``generated:<generator>@<version>`` import) by ``shares``:

    - a source's share is its part of the **synthetic rows of every batch**, not of the whole
      batch: with ``real_ratio=0.5`` and shares ``{model: 3, generated:x@1: 1}`` a batch of 256
      holds 128 real, 96 model and 32 generated rows;
    - shares are relative weights, normalized over the sources whose pools hold data; a source
      without a configured share weighs 1 (so no ``shares`` at all splits evenly);
    - the split is exact per batch (largest remainder, ties to the source listed first); rows
      are drawn uniformly with replacement within each pool;
    - while no synthetic pool holds data the whole batch is real.

    Every row keeps its provenance (``source``, ``origin``), which the ledger counts.
    """

    def __init__(self, real_ratio: float, batch_size: int, shares: Mapping[str, float] | None = None) -> None:
        if not 0.0 <= real_ratio <= 1.0:
            raise ValueError(f"real_ratio={real_ratio!r}: must be in [0, 1]")
        bad = {k: v for k, v in (shares or {}).items() if not v > 0.0}
        if bad:
            raise ValueError(f"synthetic shares {bad}: each must be > 0 (leave a source out to give it none)")
        self.real_ratio, self.batch_size = real_ratio, batch_size
        self.n_real = round(real_ratio * batch_size)
        self.shares = dict(shares or {})
        self._splits: dict[tuple[str, ...], dict[str, int]] = {}  # per set of ready sources: off the hot path

    def split(self, sources: list[str]) -> dict[str, int]:
        """Synthetic rows per batch for each of ``sources`` (the ones holding data, in order)."""
        n = self.batch_size - self.n_real
        weights = [self.shares.get(s, 1.0) for s in sources]
        exact = [n * w / sum(weights) for w in weights]
        counts = [int(e) for e in exact]
        by_remainder = sorted(range(len(sources)), key=lambda i: (-(exact[i] - counts[i]), i))
        for i in by_remainder[: n - sum(counts)]:
            counts[i] += 1
        return dict(zip(sources, counts, strict=True))

    def sample(self, real: ReplayBuffer, pools: Mapping[str, ReplayBuffer | None], generator: torch.Generator) -> Batch:
        """One mixed batch: the real rows first, then each synthetic source's in ``pools`` order;
        its rows' ``source`` and ``origin`` (ids into the shared origin table) say where each came from.

        Raises:
            ValueError: the buffers do not share one origin table.
        """
        ready = [name for name, pool in pools.items() if pool is not None and pool.size > 0]
        if not ready or self.n_real == self.batch_size:
            return real.sample(self.batch_size, generator)
        key = tuple(ready)
        if key not in self._splits:
            self._splits[key] = self.split(ready)
        parts = []
        for name, count in self._splits[key].items():
            pool = pools[name]
            assert pool is not None
            if pool.origins is not real.origins:
                raise ValueError(f"real and synthetic ({name}) buffers must share one origin table")
            if count:
                parts.append(pool.sample(count, generator))
        if self.n_real:  # drawn after the synthetic rows, as the generator's stream always was
            parts.insert(0, real.sample(self.n_real, generator))
        return Batch(**{f: torch.cat([getattr(p, f) for p in parts]) for f in Batch.__dataclass_fields__})
