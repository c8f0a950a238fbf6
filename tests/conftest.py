"""Shared test set-up: offscreen GL before any MuJoCo import, and small thread counts."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
