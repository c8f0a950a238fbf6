"""The shared conftest gives each pytest-xdist worker one torch thread (``make test`` runs two
workers on two cores; more threads per worker would oversubscribe the cores)."""

import os

import pytest
import torch


def test_an_xdist_worker_runs_torch_on_the_threads_omp_num_threads_names() -> None:
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        pytest.skip("not under pytest-xdist: the conftest leaves torch's threads alone")
    assert "OMP_NUM_THREADS" in os.environ  # set by the conftest unless the caller set it
    assert torch.get_num_threads() == int(os.environ["OMP_NUM_THREADS"])
