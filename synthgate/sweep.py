"""``synthgate sweep``: a grid of ``synthgate train`` jobs (Hydra's sweep syntax) on an executor.

    synthgate sweep sweep_dir=sweeps/demo executor=local workers=2 \\
        robot=cartpole-swingup,cheetah-run algo=sac,ftfl seed=0,1,2 steps=20000

Every comma list is a sweep dimension, expanded exactly as Hydra's basic sweeper does (the
product, in the order given); the other overrides go to every job. Each job is a ``synthgate
train`` subprocess with its own run directory ``<sweep_dir>/<key>-<value>_...`` and log
``<sweep_dir>/logs/<same name>.log``; a job that exists already is resumed, so a sweep that was
stopped continues. The executor only decides where a job runs (``local``: a pool of ``workers``
processes; ``ray``: one Ray task per job, on ``ray.address`` or a local Ray), so the same seeds
give the same runs on both. Then ``synthgate aggregate <sweep_dir>``.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from pipeline.executor import ExecutorError, make_executor

OPTIONS = ("sweep_dir", "executor", "workers", "ray.address")


class SweepError(ValueError):
    """A sweep's options are invalid; the message names the option, the value and what is allowed."""


def expand(overrides: Sequence[str]) -> list[list[str]]:
    """The jobs of a sweep: the product of every swept override's values, fixed ones in each job."""
    parser = OverridesParser.create()
    try:
        parsed = parser.parse_overrides(list(overrides))
    except HydraException as err:
        raise SweepError(f"cannot parse the overrides: {err}") from None
    axes: list[list[str]] = []
    for ov in parsed:
        key = ov.get_key_element()
        if ov.is_sweep_override():
            axes.append([f"{key}={value}" for value in ov.sweep_string_iterator()])
        else:
            axes.append([f"{key}={ov.get_value_element_as_str()}"])
    return [list(job) for job in itertools.product(*axes)]


def job_name(job: Sequence[str], swept: Sequence[str]) -> str:
    """A stable directory name from the swept keys' values (``algo-sac_seed-0``)."""
    parts = []
    for item in job:
        key, _, value = item.partition("=")
        if key.lstrip("+~") in swept:
            parts.append(f"{key.lstrip('+~').replace('.', '-')}-{value}")
    name = "_".join(parts) or "job"
    return re.sub(r"[^A-Za-z0-9_.=-]", "-", name)


def run_job(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs one ``synthgate train`` job in a subprocess; returns its summary (or its failure)."""
    log_path = Path(spec["log"])
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "synthgate", "train", *spec["overrides"], f"run_dir={spec['run_dir']}",
           "progress=false"]  # fmt: skip
    with open(log_path, "w") as log:
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
    out: dict[str, Any] = {"name": spec["name"], "run_dir": spec["run_dir"], "returncode": code, "log": str(log_path)}
    summary = Path(spec["run_dir"]) / "summary.json"
    if code == 0 and summary.is_file():
        out["summary"] = json.loads(summary.read_text())
    return out


def parse_options(args: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Splits the sweep's own options from the overrides passed to every job."""
    options = {"sweep_dir": "", "executor": "local", "workers": "1", "ray.address": ""}
    rest = []
    for arg in args:
        key, eq, value = arg.partition("=")
        if eq and key in OPTIONS:
            options[key] = value
        else:
            rest.append(arg)
    if not options["sweep_dir"]:
        raise SweepError("sweep_dir=<path> is required (where the runs, logs and aggregate go)")
    if not options["workers"].isdigit() or int(options["workers"]) < 1:
        raise SweepError(f"workers={options['workers']!r}: must be an integer >= 1")
    if any(item.partition("=")[0] == "run_dir" for item in rest):
        raise SweepError("run_dir is set by the sweep (<sweep_dir>/<job name>); do not pass it")
    return options, rest


def sweep(args: Sequence[str]) -> list[dict[str, Any]]:
    """Runs a sweep and writes ``<sweep_dir>/sweep.json``; returns one record per job.

    Raises:
        SweepError: invalid options or overrides, before any job starts.
        ExecutorError: the executor could not be set up.
    """
    options, overrides = parse_options(args)
    jobs = expand(overrides)
    parser = OverridesParser.create()
    swept = [ov.get_key_element().lstrip("+~") for ov in parser.parse_overrides(overrides) if ov.is_sweep_override()]
    root = Path(options["sweep_dir"])
    specs = []
    for job in jobs:
        name = job_name(job, swept)
        specs.append(
            {"name": name, "overrides": job, "run_dir": str(root / name), "log": str(root / "logs" / f"{name}.log")}
        )
    if len({s["name"] for s in specs}) != len(specs):
        raise SweepError("two jobs would share a run directory: sweep each key once")
    executor = make_executor(options["executor"], int(options["workers"]), options["ray.address"] or None)
    print(f"sweep: {len(specs)} jobs on executor={executor.name} (workers={options['workers']}) into {root}")
    root.mkdir(parents=True, exist_ok=True)
    results = executor.map(run_job, specs)
    (root / "sweep.json").write_text(json.dumps({"options": options, "overrides": list(overrides), "jobs": results},
                                                indent=2))  # fmt: skip
    return results


def main(args: Sequence[str]) -> int:
    """The ``synthgate sweep`` command; exit 0 when every job finished, 1 when some failed, 2 on bad input."""
    try:
        results = sweep(args)
    except (SweepError, ExecutorError) as err:
        print(f"synthgate sweep: error: {err}", file=sys.stderr)
        return 2
    failed = [r for r in results if r["returncode"] != 0]
    for r in results:
        status = "ok" if r["returncode"] == 0 else f"FAILED (exit {r['returncode']}, see {r['log']})"
        ret = f"eval return {r['summary']['eval_return_mean']:.1f}" if "summary" in r else ""
        print(f"  {r['name']:40s} {status} {ret}")
    print(f"next: synthgate aggregate {Path(results[0]['run_dir']).parent}" if results else "no jobs")
    return 1 if failed else 0
