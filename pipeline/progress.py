"""The training progress bar: tqdm's on a terminal, whole lines at a coarse interval elsewhere.

A bar redraws itself with carriage returns; written to a log file or a pipe, that is one ever
longer line of redraws (issue 21 measured about 110 KB). When the stream is not a terminal the
bar is printed instead as a plain ``progress: step n/total (p%) [elapsed<remaining, rate]`` line
at most every :data:`LOG_INTERVAL_S` seconds, and once more when it closes.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tqdm import tqdm

LOG_INTERVAL_S = 30.0
"""Seconds between progress lines when the output is not a terminal."""

LOG_FORMAT = "progress: step {n_fmt}/{total_fmt} ({percentage:.0f}%) [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
"""A progress line: no bar, nothing that needs a carriage return."""


class _Lines:
    """A file for tqdm that writes each redraw as one line, without the carriage return and padding
    (and a redraw equal to the last one not at all)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.last = stream, ""

    def write(self, text: str) -> int:
        line = text.replace("\r", "").rstrip()
        if line and line != self.last:
            self.stream.write(line + "\n")
            self.last = line
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(total: int, enabled: bool, stream: TextIO | None = None, interval_s: float = LOG_INTERVAL_S) -> Any:
    """A tqdm bar over ``total`` env steps on ``stream`` (default stderr), off unless ``enabled``.

    On a terminal it is tqdm's usual bar; otherwise (a log file, a pipe) a line every
    ``interval_s`` seconds at most (see the module docstring).
    """
    stream = sys.stderr if stream is None else stream
    if stream.isatty():
        return tqdm(total=total, unit="step", disable=not enabled, dynamic_ncols=True, file=stream)
    return tqdm(total=total, unit="step", disable=not enabled, file=_Lines(stream), bar_format=LOG_FORMAT,
                mininterval=interval_s, maxinterval=interval_s)  # fmt: skip
