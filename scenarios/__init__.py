"""scenarios: named rare failure modes as data (the library), validated on load.

Imports ``robots`` (and later ``pipeline``), never upward (DESIGN.md, data flow).
"""

from scenarios.library import METRICS, Scenario, ScenarioError, get, load, names, parse, resolve

__all__ = ["METRICS", "Scenario", "ScenarioError", "get", "load", "names", "parse", "resolve"]
