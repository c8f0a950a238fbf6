"""synthgate's MBPO loop against mbrl-lib's on cheetah-run, at matched windows (issue 33).

    bash benchmarks/ftfl_cheetah.sh runs/sbs/synthgate 7000 algo=ftfl_beta_nll &
    bash benchmarks/mbrl_lib_cheetah.sh runs/sbs/mbrl_lib 7000 &
    wait
    PYTHONPATH=. python benchmarks/side_by_side.py runs/sbs/synthgate runs/sbs/mbrl_lib --out F.json

Both at once on one host, one torch thread each. For each side: seconds per 1,000 env steps over
the window (``--start``, ``--end``] (default 5,750-7,000, issue 33's), wall-clock and process CPU,
and the seconds spent in model retrains in that window. synthgate's figures are its 250-step
``perf/`` scalars (``perf/env_steps_per_hour``, ``perf/env_steps_per_cpu_hour``,
``perf/share_model_train``); mbrl-lib's are the launcher's ``timing.csv`` (its per-epoch
evaluation episode is taken out, as synthgate's run evaluates never). Prints the ratio
(mbrl-lib's seconds over synthgate's: above 1, synthgate is faster) and writes them as JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

WINDOW = 250


def synthgate_side(run_dir: Path, start: int, end: int) -> dict[str, float]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(run_dir / "tb"))
    ea.Reload()

    def series(tag: str) -> dict[int, float]:
        return {e.step: e.value for e in ea.Scalars(tag)}

    eph, cph, share = (
        series(f"perf/{t}") for t in ("env_steps_per_hour", "env_steps_per_cpu_hour", "share_model_train")
    )
    steps = [s for s in sorted(eph) if start < s <= end]
    if len(steps) * WINDOW != end - start:
        raise SystemExit(f"{run_dir}: the 250-step windows in ({start}, {end}] are {steps}: run to {end} steps")
    wall = sum(WINDOW / eph[s] * 3600 for s in steps)
    cpu = sum(WINDOW / cph[s] * 3600 for s in steps)
    model = sum(WINDOW / eph[s] * 3600 * share[s] for s in steps)
    per = 1000 / (end - start)
    return {"wall_s_per_1k": wall * per, "cpu_s_per_1k": cpu * per, "model_train_s_per_1k": model * per}


def mbrl_lib_side(run_dir: Path, start: int, end: int) -> dict[str, float]:
    rows = {int(r["env_step"]): r for r in csv.DictReader((run_dir / "timing.csv").open())}
    if start not in rows or end not in rows:
        raise SystemExit(f"{run_dir}/timing.csv has no row at step {start} or {end}: run to {end} steps")
    a, b = rows[start], rows[end]

    def delta(key: str) -> float:
        return float(b[key]) - float(a[key])

    evaluation = delta("eval_wall_s")
    per = 1000 / (end - start)
    return {"wall_s_per_1k": (delta("wall_s") - evaluation) * per, "cpu_s_per_1k": (delta("cpu_s") - evaluation) * per,
            "model_train_s_per_1k": delta("retrain_wall_s") * per, "eval_s_in_window": evaluation}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("synthgate_run", type=Path)
    p.add_argument("mbrl_lib_run", type=Path)
    p.add_argument("--start", type=int, default=5750)
    p.add_argument("--end", type=int, default=7000)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    ours = synthgate_side(args.synthgate_run, args.start, args.end)
    theirs = mbrl_lib_side(args.mbrl_lib_run, args.start, args.end)
    ratio = {k: theirs[k] / ours[k] for k in ("wall_s_per_1k", "cpu_s_per_1k")}
    for name, side in (("synthgate", ours), ("mbrl-lib", theirs)):
        print(f"{name:10s} " + "  ".join(f"{k} {v:.1f}" for k, v in side.items()))
    print(f"ratio (mbrl-lib / synthgate seconds, > 1: synthgate faster): wall {ratio['wall_s_per_1k']:.2f}, "
          f"CPU {ratio['cpu_s_per_1k']:.2f}")  # fmt: skip
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        log = {"window": [args.start, args.end], "synthgate": ours, "mbrl_lib": theirs, "ratio": ratio,
               "load_avg": list(os.getloadavg())}  # fmt: skip
        args.out.write_text(json.dumps(log, indent=1) + "\n")


if __name__ == "__main__":
    main()
