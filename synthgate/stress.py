"""``synthgate stress <run_dir> scenario=<name> [key=value ...]``: the command line of the stress search.

Options are :class:`scenarios.stress.StressConfig`'s fields; see docs/stress_search.md.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

USAGE = "usage: synthgate stress <run_dir> scenario=<name> [key=value ...] (options: docs/stress_search.md)"


def _fail(message: str) -> int:
    print(f"synthgate stress: error: {message}", file=sys.stderr)
    return 2


def parse(args: Sequence[str]) -> tuple[Path, dict[str, Any]]:
    """``<run_dir> key=value ...`` as the run directory and typed options.

    Raises:
        StressError: a missing run directory, a malformed or unknown option, or a value of the wrong type.
    """
    from scenarios.stress import StressError, parse_option

    positional = [a for a in args if "=" not in a]
    if len(positional) != 1:
        raise StressError(f"expected exactly one run directory, got {positional or 'none'}; {USAGE}")
    options = {key: parse_option(key, value) for key, value in (a.split("=", 1) for a in args if "=" in a)}
    if "scenario" not in options:
        raise StressError(f"scenario=<name> is required (synthgate scenarios lists them); {USAGE}")
    return Path(positional[0]), options


def main(args: Sequence[str]) -> int:
    """Runs the stress search and prints its table; returns the exit status."""
    from scenarios.stress import StressConfig, StressError, format_table, stress

    if not args or args[0] in ("-h", "--help"):
        from synthgate.keyhelp import render

        print(f"{USAGE}\n\nkeys:\n{render(StressConfig)}")
        return 0

    try:
        run_dir, options = parse(args)
        report = stress(run_dir, StressConfig(**options))
    except StressError as err:
        return _fail(str(err))
    print(format_table(report))
    print(f"report: {report['path']}")
    return 0
