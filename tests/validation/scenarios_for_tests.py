"""The library scenarios the validation tests use: two Hopper-v5 failure modes that target
``tipped`` (Hopper-v5 ends an episode when it tips, so the predicate is observable)."""

from __future__ import annotations

import scenarios

PAYLOAD = "hopper_heavy_torso"
WEAK_THIGH = "hopper_weak_thigh"


def payload() -> scenarios.Scenario:
    """A 0.05-0.2 kg payload on the torso; metric failure_rate."""
    return scenarios.get(PAYLOAD)


def weak_thigh() -> scenarios.Scenario:
    """The thigh actuator at 50-80% strength; metric time_to_failure."""
    return scenarios.get(WEAK_THIGH)
