"""Only the end-to-end ``ftfl`` loop of ``benchmarks/run.py``, printed as JSON.

Usage: PYTHONPATH=<tree> python benchmarks/ab_loop_only.py [--steps 1500] [--learning-starts 500]

Start it in two trees at the same time (old and new code) to compare the loop under the same load.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from run import bench_loop


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--learning-starts", type=int, default=500)
    args = p.parse_args()
    out = bench_loop(args.steps, args.learning_starts)
    print(json.dumps({"median_env_steps_per_hour": float(np.median(out["env_steps_per_hour"])), **out}, indent=1))


if __name__ == "__main__":
    main()
