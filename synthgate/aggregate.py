"""``synthgate aggregate``: IQM with stratified-bootstrap CIs and curves over a sweep's runs (rliable)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from synthgate.preflight import fail


def main(args: Sequence[str]) -> int:
    import argparse
    import json

    from validation.aggregate import AggregateError, aggregate, format_table, load_runs, plot

    parser = argparse.ArgumentParser(prog="synthgate aggregate", description="Aggregate a sweep's runs (rliable).")
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--normalize", choices=("max", "none"), default="max")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap resamples")
    opts = parser.parse_args(list(args))
    if opts.reps < 100:
        fail("aggregate", f"--reps {opts.reps}: use at least 100 bootstrap resamples")
    try:
        runs = load_runs(opts.sweep_dir)
        result = aggregate(runs, normalize=opts.normalize, reps=opts.reps)
    except AggregateError as err:
        fail("aggregate", str(err))
    result["runs"] = [r.run_dir for r in runs]
    table = format_table(result)
    (opts.sweep_dir / "aggregate.json").write_text(json.dumps(result, indent=2))
    (opts.sweep_dir / "aggregate.md").write_text(table + "\n")
    plot(runs, result, opts.sweep_dir / "aggregate.png")
    print(table)
    print(f"wrote {opts.sweep_dir}/aggregate.json, aggregate.md, aggregate.png ({len(runs)} runs)")
    return 0
