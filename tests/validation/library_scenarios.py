"""Not a test: the names of the two library scenarios the validation tests use, Hopper-v5 failure
modes that target ``tipped`` (their ranges live in the scenario files only, so nothing here can
drift from them)."""

from __future__ import annotations

import scenarios

PAYLOAD = "hopper_heavy_torso"
WEAK_THIGH = "hopper_weak_thigh"


def payload() -> scenarios.Scenario:
    """A payload on the torso; metric failure_rate."""
    return scenarios.get(PAYLOAD)


def weak_thigh() -> scenarios.Scenario:
    """A weakened thigh actuator; metric time_to_failure."""
    return scenarios.get(WEAK_THIGH)
