"""scenarios: named rare failure modes as data (the library), validated on load.

Imports ``robots`` and ``pipeline``, never upward (docs/architecture.md, layers).
"""

from scenarios.library import (
    LIBRARY,
    METRICS,
    PATH_ENV,
    Scenario,
    ScenarioError,
    files,
    get,
    load,
    names,
    parse,
    resolve,
)

__all__ = [
    "LIBRARY", "METRICS", "PATH_ENV", "Scenario", "ScenarioError", "files", "get", "load", "names", "parse", "resolve",
]  # fmt: skip
