"""Numerical faults in training: what a run does when a loss or a model goes bad (issue 8).

* An agent update whose critic loss is NaN or infinite changes nothing (``sac_update`` skips it);
  one whose actor loss alone is non-finite keeps its critic step and skips the actor and
  temperature steps. A skipped update is counted here, not in the ledger's consumed batches
  (the policy did not learn from it). A world-model gradient step with a non-finite loss is
  skipped inside ``fit`` and counted.
* A retrain that leaves the world model diverged (a non-finite weight or statistic, a non-finite
  holdout error, or a holdout error ``model_divergence_factor`` times the last good one) is rolled
  back: weights, statistics, optimizer state and version return to what they were before it.
* A run that can no longer make progress (``max_consecutive_skips`` skipped updates in a row, or
  ``max_consecutive_rollbacks`` rolled-back retrains in a row) stops with :class:`RunStopped`,
  whose message is a diagnosis (which weights or which buffer rows are not finite, and what to
  change). Nothing is written after the fault: the last checkpoint, named in the message, holds the
  state before it; a run stopped before its first checkpoint says so (issue 21: it starts over).

Counts go to TensorBoard (``faults/*``) with every log window, and to ``ledger.jsonl`` as a
``faults`` event per window that had any, a ``model_rollback`` event per rollback, and a ``stopped``
event. The counters are part of every checkpoint, so a resumed run counts on exactly.
"""

from __future__ import annotations

import copy
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pipeline.checkpoint import list_checkpoints, step_of
from pipeline.ledger import append_event

log = logging.getLogger("synthgate.faults")

SKIPPED = "faults/skipped"
"""Key ``sac_update`` returns (alone) for an update it skipped because the critic loss was not finite."""
ACTOR_SKIPPED = "faults/actor_skipped"
"""Key ``sac_update`` adds when the critic stepped but the actor loss was not finite."""
MODEL_SKIPPED = "faults/model_skipped_steps"
"""Key of the retrain report: world-model gradient steps skipped for a non-finite loss."""


EXPLODED = 1e6
"""A network weight larger than this in magnitude is reported as exploded in a diagnosis."""


class RunStopped(RuntimeError):
    """The run can no longer make progress; the message says why and what to change."""


def nonfinite_tensors(named: Iterable[tuple[str, torch.Tensor]]) -> list[str]:
    """Names of the floating-point tensors holding a NaN or an infinity."""
    return [n for n, t in named if t.is_floating_point() and not bool(torch.isfinite(t).all())]


def bad_model_tensors(model: Any) -> list[str]:
    """World-model tensors holding a NaN, or an infinity where none belongs (the real-state range
    ``obs_low``/``obs_high`` is infinite until the first retrain)."""
    return [
        n
        for n, t in model.state_dict().items()
        if t.is_floating_point() and bool(t.isnan().any() or (not n.startswith("obs_") and t.isinf().any()))
    ]


def nonfinite_rows(buffer: Any) -> torch.Tensor:
    """Row indices of a replay buffer whose observation, action, reward or next observation is not finite."""
    n = buffer.size
    ok = (
        torch.isfinite(buffer.obs[:n]).all(-1)
        & torch.isfinite(buffer.act[:n]).all(-1)
        & torch.isfinite(buffer.rew[:n])
        & torch.isfinite(buffer.next_obs[:n]).all(-1)
    )
    return torch.nonzero(~ok).flatten()


def _rows_text(name: str, buffer: Any) -> str | None:
    if buffer is None:
        return None
    rows = nonfinite_rows(buffer)
    if not rows.numel():
        return None
    shown = ", ".join(str(int(r)) for r in rows[:5]) + (", ..." if rows.numel() > 5 else "")
    return f"the {name} buffer holds {rows.numel()} transition(s) with non-finite values (rows {shown})"


def _diagnosis(state: Any) -> list[str]:
    """What is not finite in a run's agent, world model and buffers."""
    found: list[str] = []
    agent = state.agent
    for part in ("actor", "critic"):
        bad = nonfinite_tensors(getattr(agent, part).named_parameters())
        if bad:
            found.append(f"{part} weights are not finite ({', '.join(bad[:3])}); lower sac.lr_{part}")
            continue
        largest = max(float(p.detach().abs().max()) for p in getattr(agent, part).parameters())
        if largest > EXPLODED:
            found.append(f"{part} weights have exploded (largest |w| {largest:.3g}); lower sac.lr_{part}")
    log_alpha = float(agent.log_alpha.detach())
    if not math.isfinite(log_alpha) or abs(log_alpha) > math.log(EXPLODED):
        found.append(f"the entropy temperature's log is {log_alpha:.3g}; lower sac.lr_alpha")
    model = getattr(state.sources.get("model"), "model", None)
    if model is not None:
        bad = bad_model_tensors(model)
        if bad:
            found.append(f"world-model tensors are not finite ({', '.join(bad[:3])}); lower algo.model.lr")
    pools = [(name if name != "model" else "synthetic", s.pool) for name, s in state.sources.items()]
    for name, buffer in [("real", state.buffer), *pools]:
        text = _rows_text(name, buffer)
        if text:
            found.append(text)
    return found


@dataclass
class FaultLog:
    """Counters of numerical faults and the limits at which a run stops."""

    max_consecutive_skips: int = 100
    max_consecutive_rollbacks: int = 3
    model_divergence_factor: float = 100.0
    totals: Counter[str] = field(default_factory=Counter)
    window: Counter[str] = field(default_factory=Counter)
    consecutive_skips: int = 0
    consecutive_rollbacks: int = 0
    last_good_mse: float = math.nan
    ledger_path: Path | None = None
    checkpoint_dir: Path | None = None
    """The run's checkpoints, named in a stop's message (None: the message names none)."""

    def _count(self, key: str, n: int = 1) -> None:
        self.totals[key] += n
        self.window[key] += n

    def _event(self, step: int, kind: str, **values: Any) -> None:
        if self.ledger_path is not None:
            append_event(self.ledger_path, step, kind, **values)

    def stop(self, state: Any, why: str) -> None:
        """Records a ``stopped`` event and raises :class:`RunStopped` with the diagnosis."""
        found = _diagnosis(state)
        message = (
            f"stopped at env step {state.step}: {why}. "
            + ("Found: " + "; ".join(found) + ". " if found else "No weight or buffer row is non-finite. ")
            + self._checkpoint_note()
        )
        self._event(state.step, "stopped", reason=why, found=found, totals=dict(self.totals))
        log.error(message)
        raise RunStopped(message)

    def _checkpoint_note(self) -> str:
        """What is left to resume from: the newest checkpoint, or none (never one that does not exist)."""
        if self.checkpoint_dir is None:
            return "Nothing was written after the fault."
        saved = list_checkpoints(self.checkpoint_dir)
        if not saved:
            return (
                "Nothing was written after the fault, and the run has no checkpoint yet: fix the cause and run "
                "again (the same run_dir may be used, with a changed config too); it starts over from env step 0."
            )
        return (
            f"Nothing was written after the fault; the last checkpoint, {saved[-1].name} (env step "
            f"{step_of(saved[-1])}), holds the state before the fault."
        )

    def agent_step(self, metrics: dict[str, torch.Tensor], state: Any) -> bool:
        """Counts one ``sac_update``; False when it was skipped (its batch taught the policy nothing).

        Raises:
            RunStopped: ``max_consecutive_skips`` updates in a row were skipped.
        """
        skipped = metrics.pop(SKIPPED, None) is not None
        actor_skipped = metrics.pop(ACTOR_SKIPPED, None) is not None
        if not (skipped or actor_skipped):
            self.consecutive_skips = 0
            return True
        self._count("agent_skipped" if skipped else "actor_skipped")
        self.consecutive_skips += 1
        if self.consecutive_skips == 1:
            what = "agent update" if skipped else "actor and temperature step"
            log.warning("env step %d: non-finite loss, %s skipped", state.step, what)
        if self.consecutive_skips >= self.max_consecutive_skips:
            self.stop(state, f"{self.consecutive_skips} agent updates in a row had a non-finite loss")
        return not skipped

    def divergence(self, model: Any, report: dict[str, Any]) -> str | None:
        """Why a retrained world model counts as diverged, or None."""
        bad = bad_model_tensors(model)
        if bad:
            return f"non-finite weights or statistics ({', '.join(bad[:3])})"
        mse = float(report.get("model/holdout_mse_elites", 0.0))
        if not math.isfinite(mse):
            return f"non-finite holdout error ({mse})"
        factor, good = self.model_divergence_factor, self.last_good_mse
        if factor > 0 and math.isfinite(good) and mse > factor * max(good, 1e-12):
            return f"holdout error {mse:.4g} is over {factor:g} times the last good retrain's {good:.4g}"
        return None

    def guard_retrain(self, state: Any, source: Any, retrain: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Runs ``retrain`` (which refits ``source.model``, the run's world model) and rolls it back
        if the model diverged.

        Returns:
            The retrain's report, with ``faults/model_rolled_back`` (0 or 1).

        Raises:
            RunStopped: ``max_consecutive_rollbacks`` retrains in a row were rolled back.
        """
        model, optimizer = source.model, source.model_opt
        weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        opt_state = copy.deepcopy(optimizer.state_dict())
        version = source.model_version
        report = retrain()
        self._count("model_skipped_steps", int(report.get(MODEL_SKIPPED, 0)))
        why = self.divergence(model, report)
        report["faults/model_rolled_back"] = float(why is not None)
        if why is None:
            self.consecutive_rollbacks = 0
            mse = float(report.get("model/holdout_mse_elites", math.nan))
            if math.isfinite(mse):
                self.last_good_mse = mse
            return report
        model.load_state_dict(weights)
        optimizer.load_state_dict(opt_state)
        source.model_version = report["version"] = version
        self._count("model_rollbacks")
        self.consecutive_rollbacks += 1
        log.warning("env step %d: world model diverged (%s); rolled back to %s", state.step, why, version or "init")
        self._event(state.step, "model_rollback", reason=why, restored_version=version)
        if self.consecutive_rollbacks >= self.max_consecutive_rollbacks:
            self.stop(state, f"{self.consecutive_rollbacks} world-model retrains in a row diverged (last: {why})")
        return report

    def log_window(self, step: int) -> None:
        """Writes a ``faults`` ledger event when this log window had any fault."""
        if self.window:
            self._event(step, "faults", **dict(sorted(self.window.items())), totals=dict(sorted(self.totals.items())))
            self.window.clear()

    def scalars(self) -> dict[str, float]:
        """Running totals for TensorBoard."""
        keys = ("agent_skipped", "actor_skipped", "model_skipped_steps", "model_rollbacks")
        return {f"faults/{k}_total": float(self.totals[k]) for k in keys}

    def state_dict(self) -> dict[str, Any]:
        return {
            "totals": dict(self.totals),
            "window": dict(self.window),
            "consecutive_skips": self.consecutive_skips,
            "consecutive_rollbacks": self.consecutive_rollbacks,
            "last_good_mse": self.last_good_mse,
        }

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restores :meth:`state_dict`; None (a checkpoint older than this log) starts from zero."""
        if state is None:
            return
        self.totals, self.window = Counter(state["totals"]), Counter(state["window"])
        self.consecutive_skips = int(state["consecutive_skips"])
        self.consecutive_rollbacks = int(state["consecutive_rollbacks"])
        self.last_good_mse = float(state["last_good_mse"])


NO_ROLLOUT: dict[str, Any] = {"k": 0, "version": "", "starts": 0, "kept": 0, "dropped_nonfinite": 0,
                              "dropped_out_of_range": 0, "terminated": 0, "disagreement": 0.0}  # fmt: skip
"""The rollout report when there is no good world model to roll out (its first retrain diverged)."""
