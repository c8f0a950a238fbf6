"""Runtime loop timing: a cheetah-run bundle at 50 Hz on the MuJoCo stand-in for 10 000 steps.

Usage: python benchmarks/deploy_loop.py [--steps 10000] [--rate 50] [--out DIR]

Trains a short cheetah-run SAC run with the default 2x256 actor and ``action_repeat=2`` (a 50 Hz
policy: the plant's control step is 10 ms), exports it with ``--override`` (a benchmark, not a
gate decision; the override is printed by every command), then runs ``synthgate deploy run`` on
the stand-in (ONNX Runtime, nominal plant, no reality gap) for ``steps`` control steps in episodes
of 500 steps, and writes the runtime's own timing figures (p50 / p99 loop time, overruns) to
``results/performance/deploy_loop.json``. Loop time is observe -> policy -> safety -> act; an overrun is a
step that ends after the next tick was due. Train and export are not timed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def synthgate(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "synthgate", *args], capture_output=True, text=True, env=env,
                          check=False)  # fmt: skip


def make_bundle(run: Path, bundle: Path) -> None:
    """Trains a short 2x256 cheetah-run run (50 Hz policy) and exports it with an override."""
    trained = synthgate("train", "robot=cheetah-run", "algo=sac", "steps=600", "learning_starts=500", "threads=1",
                        "eval_every=0", "eval_episodes=1", "progress=false", "+robot_settings.action_repeat=2",
                        f"run_dir={run}")  # fmt: skip
    if trained.returncode:
        sys.exit(trained.stderr)
    exported = synthgate("deploy", "export", str(run), "--out", str(bundle), "--override",
                         "benchmark of the runtime loop; the policy was not gated")  # fmt: skip
    if exported.returncode:
        sys.exit(exported.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--bundle", type=Path, default=None, help="reuse a bundle made by an earlier run")
    opts = parser.parse_args()
    work = opts.out or Path(tempfile.mkdtemp(prefix="deploy_loop-"))
    bundle, log = work / "bundle", work / f"log-{time.strftime('%Y%m%dT%H%M%S')}"
    if opts.bundle is not None:
        bundle = opts.bundle
    else:
        make_bundle(work / "run", bundle)
    per_episode = 500  # max_episode_steps 1000 plant steps / action_repeat 2
    episodes = -(-opts.steps // per_episode)
    t0 = time.monotonic()
    ran = synthgate("deploy", "run", str(bundle), "--backend", "mujoco", "--episodes", str(episodes),
                    "--rate", str(opts.rate), "--log-dir", str(log))  # fmt: skip
    wall = time.monotonic() - t0
    print(ran.stdout)
    if ran.returncode:
        print(ran.stderr, file=sys.stderr)
    run_info = json.loads((log / "meta" / "deploy_run.json").read_text())
    result = {
        "robot": "cheetah-run", "rate_hz": opts.rate, "engine": "onnx", "actor": "2x256",
        "status": run_info["status"], "counts": run_info["counts"], "timing": run_info["timing"],
        "wall_s_run_command": wall, "load_average_after": os.getloadavg(), "cpu_count": os.cpu_count(),
        "machine": platform.platform(), "command": " ".join(sys.argv),
    }  # fmt: skip
    path = Path(__file__).resolve().parents[1] / "results" / "performance" / "deploy_loop.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
