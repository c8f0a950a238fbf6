"""The ledger: the accounting of provenance over a run (docs/architecture.md, "ledger").

It counts, by ``(source, origin)``, what was generated (stored), what was evicted from a full
ring buffer, and what every update consumed; the realized synthetic share of each update batch
and cumulatively; and, through the origin ``model/<version>``, the model version behind each
synthetic sample. ``held = generated - evicted`` equals the buffers' contents at all times (a
test checks it after a run and after a resume). Synthetic transitions the targeted generator
made and threw away (the ensemble disagreed beyond its threshold) are counted as ``dropped``.
Per synthetic source (``model``: the run's world model; ``generated:<generator>@<version>``: an
outside generator's imported episodes) it reports generated, held and consumed counts and the
source's share of everything the policy consumed; the real-anchor check is over all synthetic
sources together. Per scenario (the part of an origin after its source, e.g.
``model/<version>:push_recovery`` or ``generated:cosmos@1.0:push_recovery``; origins without one
are ``nominal``) the ledger reports generated, dropped, held and consumed counts, the
scenario's synthetic share of everything the policy consumed, and its drop rate. Events go to
``ledger.jsonl`` in the run directory (append-only; a resume drops lines after its checkpoint);
counters go in checkpoints.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pipeline.buffer import Source

Key = tuple[str, str]


def _pairs(counter: Counter[Key]) -> list[list[Any]]:
    return [[s, o, c] for (s, o), c in sorted(counter.items())]


def _counter(pairs: list[list[Any]]) -> Counter[Key]:
    return Counter({(s, o): int(c) for s, o, c in pairs})


@dataclass
class Ledger:
    """Counters of generated, evicted and consumed transitions, keyed ``(source, origin)``."""

    generated: Counter[Key] = field(default_factory=Counter)
    evicted: Counter[Key] = field(default_factory=Counter)
    consumed: Counter[Key] = field(default_factory=Counter)
    dropped: Counter[Key] = field(default_factory=Counter)
    batches: int = 0
    share_sum: float = 0.0
    last_share: float = 0.0
    # Consumption is counted in a tensor on the hot path and folded into ``consumed`` on demand.
    _pending: torch.Tensor | None = None
    _pending_origins: list[str] = field(default_factory=list)

    def on_stored(self, source: Source, origin: str, count: int, evicted: Counter[Key]) -> None:
        """Records ``count`` transitions stored from ``origin`` and what they overwrote."""
        self.generated[(source.name.lower(), origin)] += count
        self.evicted.update(evicted)

    def on_dropped(self, origin: str, count: int) -> None:
        """Records ``count`` synthetic transitions from ``origin`` made and dropped, never stored."""
        self.dropped[(Source.SYNTHETIC.name.lower(), origin)] += count

    def on_batch(self, source: torch.Tensor, origin: torch.Tensor, origins: list[str]) -> float:
        """Records one update batch (its rows' source and origin ids into ``origins``); returns its
        synthetic share. One bincount per batch; no Python loop over origins."""
        n_origins = len(origins)
        counts = torch.bincount(torch.add(origin, source, alpha=n_origins), minlength=len(Source) * n_origins)
        if self._pending is None or self._pending.numel() != counts.numel():
            self._flush()
            self._pending, self._pending_origins = counts, list(origins)  # a snapshot: the table grows
        else:
            self._pending += counts
        # Source.REAL is 0 and Source.SYNTHETIC 1, so the column's sum counts the synthetic rows.
        share = int(source.sum()) / max(int(source.numel()), 1)
        self.batches += 1
        self.share_sum += share
        self.last_share = share
        return share

    def _flush(self) -> None:
        if self._pending is not None:
            n_origins = len(self._pending_origins)
            for key, count in enumerate(self._pending.tolist()):
                if count:
                    source = Source(key // n_origins).name.lower()
                    self.consumed[(source, self._pending_origins[key % n_origins])] += count
            self._pending = None

    def consumed_counts(self) -> Counter[Key]:
        """Everything consumed so far, by ``(source, origin)``."""
        self._flush()
        return self.consumed

    def held(self) -> Counter[Key]:
        """What the buffers hold now, by the ledger's books."""
        out = Counter(self.generated)
        out.subtract(self.evicted)
        return +out

    @staticmethod
    def by_source(counter: Counter[Key]) -> dict[str, int]:
        """Sums by source."""
        out = {"real": 0, "synthetic": 0}
        for (source, _), count in counter.items():
            out[source] += count
        return out

    def synthetic_share(self) -> float:
        """The cumulative synthetic share of everything the policy consumed."""
        total = self.by_source(self.consumed_counts())
        n = total["real"] + total["synthetic"]
        return total["synthetic"] / n if n else 0.0

    def state_dict(self) -> dict[str, Any]:
        self._flush()
        return {
            "generated": _pairs(self.generated),
            "evicted": _pairs(self.evicted),
            "consumed": _pairs(self.consumed),
            "dropped": _pairs(self.dropped),
            "batches": self.batches,
            "share_sum": self.share_sum,
            "last_share": self.last_share,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generated = _counter(state["generated"])
        self.evicted = _counter(state["evicted"])
        self.consumed = _counter(state["consumed"])
        self.dropped = _counter(state.get("dropped", []))  # absent in checkpoints before targeted generation
        self.batches, self.share_sum = int(state["batches"]), float(state["share_sum"])
        self.last_share = float(state["last_share"])

    def by_scenario(self) -> dict[str, dict[str, float]]:
        """Counts per scenario (``nominal`` for origins without one), with the scenario's synthetic
        share of everything consumed and its drop rate ``dropped / (generated + dropped)`` of
        synthetic transitions."""
        consumed = self.consumed_counts()
        total = sum(consumed.values())
        held = self.held()
        out: dict[str, dict[str, float]] = {}
        books = (("generated", self.generated), ("dropped", self.dropped), ("held", held), ("consumed", consumed))
        for name, counter in books:
            for (source, origin), count in counter.items():
                row = out.setdefault(scenario_of(origin), {})
                row[f"{source}_{name}"] = row.get(f"{source}_{name}", 0) + count
        for row in out.values():
            for source in ("real", "synthetic"):
                for name, _ in books:
                    row.setdefault(f"{source}_{name}", 0)
            made = row["synthetic_generated"] + row["synthetic_dropped"]
            row["synthetic_share"] = row["synthetic_consumed"] / total if total else 0.0
            row["drop_rate"] = row["synthetic_dropped"] / made if made else 0.0
        return dict(sorted(out.items()))

    def by_synthetic_source(self) -> dict[str, dict[str, float]]:
        """Per synthetic source (:func:`synthetic_source_of`): generated, held and consumed counts and
        ``share``, its part of everything the policy consumed (real included)."""
        consumed = self.consumed_counts()
        total = sum(consumed.values())
        out: dict[str, dict[str, float]] = {}
        for name, counter in (("generated", self.generated), ("held", self.held()), ("consumed", consumed)):
            for (source, origin), count in counter.items():
                if source == Source.SYNTHETIC.name.lower():
                    row = out.setdefault(synthetic_source_of(origin), {"generated": 0, "held": 0, "consumed": 0})
                    row[name] += count
        for row in out.values():
            row["share"] = row["consumed"] / total if total else 0.0
        return dict(sorted(out.items()))

    def summary(self, min_real: int = 0, max_synthetic_share: float = 1.0) -> dict[str, Any]:
        """A JSON-friendly summary, with the real-anchor check.

        The mix is anchored when the policy consumed at least ``min_real`` real transitions and
        the cumulative synthetic share is at most ``max_synthetic_share``.
        """
        consumed = self.by_source(self.consumed_counts())
        share = self.synthetic_share()
        return {
            "generated": self.by_source(self.generated),
            "held": self.by_source(self.held()),
            "consumed": consumed,
            "synthetic_share_cumulative": share,
            "synthetic_share_mean_per_batch": self.share_sum / self.batches if self.batches else 0.0,
            "batches": self.batches,
            "real_anchor": consumed["real"] >= min_real and share <= max_synthetic_share,
            "generated_by_origin": {f"{s}:{o}": c for (s, o), c in sorted(self.generated.items())},
            "consumed_by_origin": {f"{s}:{o}": c for (s, o), c in sorted(self.consumed.items())},
            "dropped_by_origin": {f"{s}:{o}": c for (s, o), c in sorted(self.dropped.items())},
            "by_scenario": self.by_scenario(),
            "by_synthetic_source": self.by_synthetic_source(),
        }


SYNTHETIC_PREFIXES = ("model", "sim", "sim_sysid", "sim_residual", "oracle")
"""Sources whose origins read ``<source>/<version or robot>[:<scenario>]`` (pipeline.sources)."""


def synthetic_source_of(origin: str) -> str:
    """The synthetic source behind an origin: ``model`` for ``model/<version>[:<scenario>]``, ``sim``
    for ``sim/<robot>[:<scenario>]`` (the sim, stepped by a sim-trained run or the ``sim`` source),
    ``sim_sysid`` and ``sim_residual`` likewise, and ``generated:<generator>@<version>`` for an
    outside generator's rows (scenario stripped)."""
    if origin.startswith("generated:"):
        return ":".join(origin.split(":", 2)[:2])
    for source in SYNTHETIC_PREFIXES:
        if origin.startswith(source + "/"):
            return source
    return origin


def scenario_of(origin: str) -> str:
    """The scenario a plant, model or generator origin names (``model/ab12:push_recovery``,
    ``walker-walk/plant:push_recovery`` and ``generated:cosmos@1.0:push_recovery`` ->
    ``push_recovery``); ``nominal`` for every other origin (nominal plant and model data, imported logs)."""
    if origin.startswith("generated:"):
        parts = origin.split(":", 2)
        return parts[2] if len(parts) == 3 else "nominal"
    if origin.startswith(tuple(p + "/" for p in SYNTHETIC_PREFIXES)) or "/plant:" in origin:
        return origin.split(":", 1)[1] if ":" in origin else "nominal"
    return "nominal"


def append_event(path: Path, step: int, kind: str, **values: Any) -> None:
    """Appends one event line to ``ledger.jsonl``."""
    with open(path, "a") as f:
        f.write(json.dumps({"step": step, "kind": kind, **values}) + "\n")


def format_table(summary: dict[str, Any]) -> str:
    """The table ``synthgate ledger`` prints."""
    gen, held, con = summary["generated"], summary["held"], summary["consumed"]
    total = con["real"] + con["synthetic"]
    sources = summary.get("by_synthetic_source", {})
    w = max([10, *(len(name) + 2 for name in sources)])  # synthetic sources are indented by two
    lines = [
        f"{'source':{w}s} {'generated':>12s} {'held':>12s} {'consumed':>12s} {'share of experience':>20s}",
    ]
    for source in ("real", "synthetic"):
        share = con[source] / total if total else 0.0
        lines.append(f"{source:{w}s} {gen[source]:12d} {held[source]:12d} {con[source]:12d} {share:20.3f}")
    if len(sources) > 1 or any(name != "model" for name in sources):
        for name, row in sources.items():
            lines.append(f"  {name:{w - 2}s} {row['generated']:12d} {row['held']:12d} {row['consumed']:12d} "
                         f"{row['share']:20.3f}")  # fmt: skip
    lines.append("")
    lines.append(f"update batches: {summary['batches']}; mean synthetic share per batch "
                 f"{summary['synthetic_share_mean_per_batch']:.3f}")  # fmt: skip
    lines.append(f"real anchor: {'OK' if summary['real_anchor'] else 'NOT ANCHORED'}")
    scenarios = summary.get("by_scenario", {})
    if any(name != "nominal" for name in scenarios):
        lines.append("")
        lines.append("by scenario (synthetic share: of all transitions consumed; drop rate: of synthetic made):")
        lines.append(f"  {'scenario':20s} {'real gen':>9s} {'syn gen':>9s} {'syn drop':>9s} {'syn cons':>10s} "
                     f"{'syn share':>9s} {'drop rate':>9s}")  # fmt: skip
        for name, row in scenarios.items():
            lines.append(
                f"  {name:20s} {row['real_generated']:9d} {row['synthetic_generated']:9d} "
                f"{row['synthetic_dropped']:9d} {row['synthetic_consumed']:10d} {row['synthetic_share']:9.3f} "
                f"{row['drop_rate']:9.3f}"
            )
    if summary["generated_by_origin"]:
        lines.append("")
        lines.append("generated by origin:")
        lines += [f"  {k}: {v}" for k, v in summary["generated_by_origin"].items()]
    return "\n".join(lines)


def anchored_summary(ledger: Ledger, real_ratio: float, batch_size: int) -> dict[str, Any]:
    """The ledger's summary with a run's anchor rule: real data was consumed, and the synthetic share
    never exceeds what the configured real ratio allows (one sample of rounding slack)."""
    out = ledger.summary(min_real=1, max_synthetic_share=1.0 - real_ratio + 1.0 / batch_size)
    out["configured_real_ratio"] = real_ratio
    return out
