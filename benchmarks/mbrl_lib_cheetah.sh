#!/usr/bin/env bash
# mbrl-lib's MBPO on dm_control cheetah-run (CPU, one torch thread) at synthgate's algo=ftfl settings, the
# outside reference for benchmarks/ftfl_cheetah.sh: <run_dir>/timing.csv (wall/CPU seconds per 250 env
# steps) and <run_dir>/retrains.csv (epochs per model retrain); mbrl-lib's console output in <run_dir>/mbrl.log.
# Usage: bash benchmarks/mbrl_lib_cheetah.sh <run_dir> [steps] [mirror_git_dir] [launcher args...]
#   e.g. bash benchmarks/mbrl_lib_cheetah.sh results/performance/mbrl_lib_cheetah 7500
#        bash benchmarks/mbrl_lib_cheetah.sh /tmp/smoke 500 "" --set algorithm.initial_exploration_steps=50
# mirror_git_dir: a bare git mirror of facebookresearch/mbrl-lib (default /work/.mirror/facebookresearch+mbrl-lib/repo);
#   its HEAD is extracted to MBRL_SRC (default /work/mbrl-lib-src) when that holds no mbrl/ yet.
# PYTHON: an interpreter with torch, dm_control, gymnasium, hydra-core 1.3 and termcolor. Default: MBRL_VENV
#   (/work/mbrlvenv), made when missing: a venv that sees .venv's packages through a .pth file, plus termcolor
#   (the one import of mbrl-lib that .venv lacks); nothing is installed into .venv.
set -euo pipefail
run_dir=${1:-results/performance/mbrl_lib_cheetah}
steps=${2:-7500}
mirror=${3:-}
mirror=${mirror:-/work/.mirror/facebookresearch+mbrl-lib/repo}
shift $(($# < 3 ? $# : 3))
src=${MBRL_SRC:-/work/mbrl-lib-src}
here=$(cd "$(dirname "$0")" && pwd)

if [[ ! -f $src/mbrl/algorithms/mbpo.py ]]; then
  # A mirror may lack some large blobs (two images in mbrl-lib's): archive every path but those (git may
  # still print "invalid object" for them, and exits 0).
  excludes=()
  while read -r _mode _type hash path; do
    git --git-dir="$mirror" cat-file -e "$hash" 2>/dev/null || excludes+=(":(exclude)$path")
  done < <(git --git-dir="$mirror" ls-tree -r HEAD)
  mkdir -p "$src"
  git --git-dir="$mirror" archive HEAD -- . "${excludes[@]}" | tar -x -C "$src"
  echo "extracted mbrl-lib $(git --git-dir="$mirror" rev-parse --short HEAD) to $src (${#excludes[@]} absent blobs left out)"
fi

if [[ -n ${PYTHON:-} ]]; then
  read -r -a python <<<"$PYTHON"
else
  venv=${MBRL_VENV:-/work/mbrlvenv}
  base=$(cd "$here/.." && pwd)/.venv
  if [[ ! -x $venv/bin/python ]]; then
    "$(readlink -f "$base/bin/python")" -m venv "$venv"
    site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    "$base/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' >"$site/synthgate_venv.pth"
  fi
  "$venv/bin/python" -c 'import termcolor' 2>/dev/null || "$venv/bin/pip" install -q termcolor
  python=("$venv/bin/python")
fi

mkdir -p "$run_dir"
if ! "${python[@]}" "$here/mbrl_lib_cheetah.py" --src "$src" --out "$run_dir" --steps "$steps" "$@" \
  >"$run_dir/mbrl.log" 2>&1; then
  tail -n 30 "$run_dir/mbrl.log"
  exit 1
fi
tail -n 1 "$run_dir/mbrl.log"
column -s, -t <"$run_dir/timing.csv"
column -s, -t <"$run_dir/retrains.csv"
