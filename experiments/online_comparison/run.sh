#!/usr/bin/env bash
# Online comparison (issue 3): sac vs mbpo vs ftfl at the same env-step budget, 3 seeds each.
# Usage: bash experiments/online_comparison/run.sh <robot> <steps> [out_dir] [parallel]
#   e.g. bash experiments/online_comparison/run.sh cartpole-swingup 50000
# Every run checkpoints (checkpoint_every=5000) and resumes if the command is run again.
# Then: python experiments/online_comparison/report.py <out_dir>/<robot>
set -euo pipefail
robot=$1
steps=$2
out=${3:-experiments/online_comparison/runs}
parallel=${4:-2}
bin=${SYNTHGATE:-.venv/bin/synthgate}
jobs=()
for algo in sac mbpo ftfl; do
  for seed in 0 1 2; do
    jobs+=("$algo $seed")
  done
done
printf '%s\n' "${jobs[@]}" | xargs -P "$parallel" -L 1 bash -c '
  algo=$0; seed=$1
  "'"$bin"'" train robot='"$robot"' algo=$algo steps='"$steps"' seed=$seed threads=1 progress=false \
    eval_every=2500 eval_episodes=5 checkpoint_every=5000 run_dir='"$out"'/'"$robot"'/$algo/seed$seed \
    > '"$out"'/'"$robot"'-$algo-seed$seed.log 2>&1'
