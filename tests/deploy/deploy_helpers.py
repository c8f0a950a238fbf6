"""Data shared by the deploy tests (imported as ``deploy_helpers``; pytest puts tests/deploy on sys.path)."""

from __future__ import annotations

from pathlib import Path

TINY_RUN = [
    "robot=cheetah-run", "algo=sac", "steps=300", "learning_starts=200", "eval_every=0", "eval_episodes=1",
    "progress=false", "threads=1", "sac.hidden=32", "sac.batch_size=32", "+robot_settings.max_episode_steps=200",
    "+robot_settings.action_repeat=2",
]  # fmt: skip
"""cheetah-run with action_repeat 2: a 50 Hz policy (the plant's control step is 10 ms)."""


def gate_report(run_dir: Path, decision: str = "PROMOTE", failed: tuple[str, ...] = ()) -> dict[str, object]:
    """A gate report that validates against validation/schemas/gate_report.schema.json.

    TEST FIXTURE: written by hand to exercise deploy's gate; no panel was evaluated.
    """
    rules = [
        {"name": "targeted_metric_improves", "passed": "targeted_metric_improves" not in failed,
         "detail": "TEST FIXTURE: no panel was run", "scenario": None, "values": {}},
        {"name": "nominal_non_inferior", "passed": "nominal_non_inferior" not in failed,
         "detail": "TEST FIXTURE: no panel was run", "scenario": None, "values": {}},
    ]  # fmt: skip
    return {
        "schema_version": 1,
        "decision": decision,
        "failed_rules": list(failed),
        "rules": rules,
        "candidate": str(run_dir),
        "baseline": "TEST FIXTURE (no baseline)",
        "robot": "cheetah-run",
        "scenarios": [],
        "created": "2026-11-22T00:00:00+00:00",
        "test_fixture": True,
    }
