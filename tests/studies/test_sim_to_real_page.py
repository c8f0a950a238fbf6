"""docs/sim_to_real.md's tables are what results/sim_to_real/'s logs give (issue 31)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studies import sim_to_real


def test_the_page_matches_the_committed_logs() -> None:
    assert sim_to_real.main(["report", "--check"]) == 0


def test_a_changed_log_makes_the_check_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for path in sim_to_real.LOGS.glob("*.json"):
        (logs / path.name).write_text(path.read_text())
    page = tmp_path / "page.md"
    page.write_text(sim_to_real.PAGE.read_text())
    monkeypatch.setattr(sim_to_real, "LOGS", logs)
    monkeypatch.setattr(sim_to_real, "PAGE", page)
    assert sim_to_real.main(["report", "--check"]) == 0
    changed = logs / "policies-Hopper-v5.json"
    log = json.loads(changed.read_text())
    log["rows"][0]["return_mean"] += 1.0
    changed.write_text(json.dumps(log))
    assert sim_to_real.main(["report", "--check"]) == 1
    assert sim_to_real.main(["report"]) == 0 and sim_to_real.main(["report", "--check"]) == 0
