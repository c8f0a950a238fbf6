#!/usr/bin/env bash
# Steady-state throughput of algo=ftfl on cheetah-run at MBPO's settings (UTD 20, 400 rollout
# starts per env step, retrain every 250 env steps), issue 3's throughput check.
# Usage: bash benchmarks/ftfl_cheetah.sh <run_dir> [steps] [train overrides...]
#   e.g. bash benchmarks/ftfl_cheetah.sh runs/sbs 7000 algo=ftfl_beta_nll   (a later override wins)
# SYNTHGATE and PYTHON may hold a command with arguments (SYNTHGATE="python -m synthgate").
set -euo pipefail
run_dir=${1:-results/performance/ftfl_cheetah}
steps=${2:-7500}
shift $(($# < 2 ? $# : 2))
read -r -a synthgate <<<"${SYNTHGATE:-.venv/bin/synthgate}"
read -r -a python <<<"${PYTHON:-.venv/bin/python}"
"${synthgate[@]}" train robot=cheetah-run algo=ftfl steps="$steps" seed=0 progress=false eval_every=0 eval_episodes=1 \
  log_every=250 checkpoint_every="$steps" run_dir="$run_dir" "$@"
"${python[@]}" - "$run_dir" <<'PY'
import sys, numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
ea = EventAccumulator(sys.argv[1] + "/tb"); ea.Reload()
rows = {t: {e.step: e.value for e in ea.Scalars(t)} for t in ea.Tags()["scalars"] if t.startswith("perf/")}
steady = sorted(s for s in rows["perf/env_steps_per_hour"] if s > 5500)
if not steady:
    sys.exit("no 250-step window after step 5500 (the rollout length's steady state): run 5750 steps or more")
eph = [rows["perf/env_steps_per_hour"][s] for s in steady]
print(f"env steps/hour over {len(steady)} windows of 250 steps after step 5500: median {np.median(eph):.0f} "
      f"(min {min(eph):.0f}, max {max(eph):.0f})")
if "perf/env_steps_per_cpu_hour" in rows:  # wall-clock moves with the machine's load; CPU time does not
    cph = [rows["perf/env_steps_per_cpu_hour"][s] for s in steady]
    print(f"env steps per CPU-hour: median {np.median(cph):.0f} (min {min(cph):.0f}, max {max(cph):.0f})")
for phase in ("env", "model_train", "rollout", "agent_update", "eval_log_ckpt"):
    print(f"  share {phase:14s} {np.median([rows['perf/share_' + phase][s] for s in steady]):.3f}")
print(f"  update ms median {np.median([rows['perf/update_ms'][s] for s in steady]):.2f}")
PY
