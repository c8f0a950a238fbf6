"""The real panel on an executor: the same chunks give the same episodes in this process, on a pool
of 2 processes and on a local Ray (num_cpus=2), for the same seeds (issue 9)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

import scenarios
from pipeline.executor import LocalExecutor, RayExecutor
from pipeline.sac import Actor
from validation.panels import PanelSpec, Results, real_panel


def _actor(seed: int) -> Actor:
    torch.manual_seed(seed)
    return Actor(11, 3, 32, 2, -5.0, 2.0)  # Hopper-v5: 11 observations, 3 actions


def _spec() -> PanelSpec:
    chosen = (scenarios.get("hopper_heavy_torso"),)
    return PanelSpec("Hopper-v5", chosen, episodes=6, max_steps=40, seed=3, num_envs=4)  # 2 chunks per condition


def _same(a: Results, b: Results) -> None:
    assert a.keys() == b.keys()
    for name in a:
        for cond in a[name]:
            x, y = a[name][cond], b[name][cond]
            for field in ("returns", "failed", "failure_step", "length"):
                np.testing.assert_array_equal(getattr(x, field), getattr(y, field))


@pytest.fixture(scope="module")
def reference() -> Results:
    results, _ = real_panel(_spec(), {"a": _actor(0), "b": _actor(1)})
    assert not np.array_equal(results["a"]["nominal"].returns, results["b"]["nominal"].returns)
    return results


def test_real_panel_on_a_process_pool_matches_in_process(reference: Results) -> None:
    pooled, starts = real_panel(_spec(), {"a": _actor(0), "b": _actor(1)}, LocalExecutor(workers=2))
    _same(reference, pooled)
    assert len(starts.seeds["hopper_heavy_torso"]) == 6


NO_RAY = "ray is not installed (pip install 'synthgate[ray]')"


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason=NO_RAY)
def test_real_panel_on_a_local_ray_matches_in_process(reference: Results) -> None:
    import ray

    try:
        on_ray, _ = real_panel(_spec(), {"a": _actor(0), "b": _actor(1)}, RayExecutor(num_cpus=2))
        assert ray.cluster_resources().get("CPU") == 2.0
    finally:
        ray.shutdown()
    _same(reference, on_ray)
