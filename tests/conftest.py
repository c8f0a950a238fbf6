"""Shared test set-up: offscreen GL before any MuJoCo import; tests/ on sys.path for ``helpers``; under
pytest-xdist (``make test`` runs two workers) one torch thread per worker."""

import os
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
if os.environ.get("PYTEST_XDIST_WORKER") and not os.environ.get("OMP_NUM_THREADS"):
    os.environ["OMP_NUM_THREADS"] = "1"  # one torch thread per pytest-xdist worker: no oversubscription
sys.path.insert(0, str(Path(__file__).parent))
