"""The one place that decides how real and synthetic data are mixed in the policy's batches."""

from __future__ import annotations

import torch

from pipeline.buffer import Batch, ReplayBuffer


class Mixer:
    """Draws agent batches from a real and a synthetic buffer at a fixed real/synthetic ratio.

    ``real_ratio`` is a **per-batch split**, not a per-sample coin flip: every batch of
    ``batch_size`` holds exactly ``n_real = round(real_ratio * batch_size)`` real transitions, drawn
    uniformly with replacement from the real buffer, and ``batch_size - n_real`` synthetic ones,
    drawn uniformly with replacement from the synthetic buffer. While the synthetic buffer is
    empty, the whole batch is real. Every sample keeps its provenance, which the ledger counts.
    """

    def __init__(self, real_ratio: float, batch_size: int) -> None:
        if not 0.0 <= real_ratio <= 1.0:
            raise ValueError(f"real_ratio={real_ratio!r}: must be in [0, 1]")
        self.real_ratio, self.batch_size = real_ratio, batch_size
        self.n_real = round(real_ratio * batch_size)

    def sample(self, real: ReplayBuffer, synthetic: ReplayBuffer | None, generator: torch.Generator) -> Batch:
        """One mixed batch; its rows' ``source`` and ``origin`` (ids into the shared origin table)
        say where each came from.

        Raises:
            ValueError: the two buffers do not share one origin table.
        """
        if synthetic is None or synthetic.size == 0 or self.n_real == self.batch_size:
            batch = real.sample(self.batch_size, generator)
        else:
            if synthetic.origins is not real.origins:
                raise ValueError("real and synthetic buffers must share one origin table")
            parts = [synthetic.sample(self.batch_size - self.n_real, generator)]
            if self.n_real:
                parts.insert(0, real.sample(self.n_real, generator))
            batch = Batch(**{f: torch.cat([getattr(p, f) for p in parts]) for f in Batch.__dataclass_fields__})
        return batch
