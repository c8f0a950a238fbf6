"""Shared test set-up: offscreen GL before any MuJoCo import; tests/ on sys.path for ``helpers``."""

import os
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).parent))
