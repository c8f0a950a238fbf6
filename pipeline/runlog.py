"""A run directory's files as the training loop writes them: TensorBoard scalars and
``metrics.jsonl`` (:class:`RunLog`), ``config.yaml`` (:func:`prepare_run_dir`, which refuses a
changed config on resume) and the per-window averages and speed figures (:class:`Window`)."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from torch.utils.tensorboard import SummaryWriter

from pipeline import checkpoint, runfiles
from pipeline.config import RESUMABLE_CHANGES, ConfigError, TrainConfig, effective_real_ratio, flat_items
from pipeline.ledger import anchored_summary
from pipeline.run_state import RunState


class RunLog:
    """TensorBoard scalars plus ``metrics.jsonl`` (evaluations and episodes) in the run directory."""

    def __init__(self, run_dir: Path, resume_step: int, rerun_end: bool = False) -> None:
        """``resume_step`` is the checkpoint's step, -1 without one (see :func:`runfiles.trim_logs`)."""
        self.writer = SummaryWriter(str(run_dir / "tb"), purge_step=resume_step + 1)
        self.path = run_dir / "metrics.jsonl"
        self.ledger_path = run_dir / "ledger.jsonl"
        runfiles.trim_logs((self.path, self.ledger_path), resume_step, rerun_end)  # drop cut lines, later ones
        self._file = open(self.path, "a")  # noqa: SIM115 - closed in close()

    def record(self, kind: str, step: int, **values: Any) -> None:
        self._file.write(json.dumps({"kind": kind, "step": step, **values}) + "\n")
        self._file.flush()

    def scalars(self, step: int, values: dict[str, float]) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        self._file.close()
        self.writer.close()


def _merge(defaults: dict[str, Any], saved: dict[str, Any]) -> dict[str, Any]:
    """``saved`` over ``defaults``, dictionaries merged key by key."""
    out = dict(defaults)
    for key, value in saved.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def prepare_run_dir(cfg: TrainConfig, run_dir: Path, resuming: bool) -> None:
    """Writes ``config.yaml`` for a new run; for a resumed run, refuses a changed config."""
    path = run_dir / "config.yaml"
    current = flat_items(dataclasses.asdict(cfg))  # lists of dataclasses (import_datasets) as plain dicts
    if resuming and path.exists():
        saved = yaml.safe_load(path.read_text())
        # A field added to the schema after the run began reads as its default.
        saved_flat = flat_items(_merge(dataclasses.asdict(TrainConfig()), saved))
        changed = sorted(
            k
            for k in set(saved_flat) | set(current)
            if k not in RESUMABLE_CHANGES and saved_flat.get(k) != current.get(k)
        )
        if changed:
            diffs = "; ".join(f"{k}: {saved_flat.get(k)!r} -> {current.get(k)!r}" for k in changed)
            raise ConfigError(
                f"{run_dir} holds a run with a different config ({diffs}); "
                f"only {sorted(RESUMABLE_CHANGES)} may change on resume. Use another run_dir."
            )
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint.atomic_write(path, yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False).encode())


def ledger_summary(state: RunState, cfg: TrainConfig) -> dict[str, Any]:
    """The ledger's summary with this run's anchor rule (:func:`pipeline.ledger.anchored_summary`)."""
    return anchored_summary(state.ledger, effective_real_ratio(cfg), cfg.sac.batch_size)


class Window:
    """Per-window averages of update metrics and wall-clock by phase, written every ``log_every``."""

    PHASES = ("env", "model_train", "rollout", "agent_update", "eval_log_ckpt")

    def __init__(self, state: RunState) -> None:
        self.totals: dict[str, torch.Tensor] = {}
        self.reset(state)

    def reset(self, state: RunState) -> None:
        self.t0, self.step0, self.updates0 = time.perf_counter(), state.step, state.updates
        self.cpu0 = time.process_time()
        self.update_cpu_s = 0.0
        self.totals = {}
        self.phase_s = dict.fromkeys(self.PHASES, 0.0)

    def timed(self, phase: str, t0: float) -> float:
        now = time.perf_counter()
        self.phase_s[phase] += now - t0
        return now

    def scalars(self, state: RunState) -> dict[str, float]:
        """Update metrics averaged over the window, and its speed. Wall-clock figures move with the
        machine's load; the CPU-time ones (``perf/*cpu*``, this process's CPU seconds, all threads)
        move much less, and ``perf/cpu_per_wall`` below the thread count says the process waited
        for a core (issue 10: a loaded machine doubled the wall-clock per update)."""
        elapsed = time.perf_counter() - self.t0
        cpu = time.process_time() - self.cpu0
        n_upd = state.updates - self.updates0
        out = {k: float(v) / max(n_upd, 1) for k, v in self.totals.items()}
        out["perf/env_steps_per_s"] = (state.step - self.step0) / elapsed
        out["perf/env_steps_per_hour"] = 3600.0 * (state.step - self.step0) / elapsed
        out["perf/env_steps_per_cpu_hour"] = 3600.0 * (state.step - self.step0) / max(cpu, 1e-9)
        out["perf/cpu_per_wall"] = cpu / elapsed
        out["perf/updates_per_s"] = n_upd / elapsed
        if n_upd:
            out["perf/update_ms"] = 1000.0 * self.phase_s["agent_update"] / n_upd
            out["perf/update_cpu_ms"] = 1000.0 * self.update_cpu_s / n_upd
        for phase, secs in self.phase_s.items():
            out[f"perf/share_{phase}"] = secs / elapsed
        summary = state.ledger.summary()
        out["ledger/synthetic_share_cumulative"] = summary["synthetic_share_cumulative"]
        out["ledger/real_generated"] = float(summary["generated"]["real"])
        out["ledger/synthetic_generated"] = float(summary["generated"]["synthetic"])
        out["ledger/synthetic_held"] = float(summary["held"]["synthetic"])
        for name, row in summary["by_synthetic_source"].items():  # each source's share of the experience
            out[f"ledger/share/{name}"] = float(row["share"])
        for name, row in summary["by_scenario"].items():
            if name != "nominal" or len(summary["by_scenario"]) > 1:
                for key in (
                    "synthetic_share",
                    "drop_rate",
                    "synthetic_generated",
                    "synthetic_dropped",
                    "real_generated",
                ):
                    out[f"ledger/{name}/{key}"] = float(row[key])
        out.update(state.faults.scalars())
        return out
