#!/usr/bin/env bash
# SAC on cartpole-swingup, 3 seeds x 50k env steps (issue 2's learning check).
# Usage: bash studies/sac_cartpole/run.sh [out_dir]   (then: python studies/sac_cartpole/report.py out_dir)
# The three seeds run side by side with one torch thread each.
set -euo pipefail
out=${1:-results/sac_cartpole/runs}
bin=${SYNTHGATE:-.venv/bin/synthgate}
for seed in 0 1 2; do
  "$bin" train robot=cartpole-swingup algo=sac steps=50000 seed=$seed threads=1 progress=false \
    eval_every=2500 eval_episodes=5 checkpoint_every=10000 run_dir="$out/seed$seed" > "$out-seed$seed.log" 2>&1 &
done
wait
