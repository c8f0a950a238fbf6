"""report.html in a real headless browser (Debian's chromium; .ci/install-chromium installs it):
no console errors, every embedded plot decodes, the decision is on the page; a screenshot is saved.
Skips, saying why, when chromium is not installed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import helpers as sft
import pytest
from browser import find_chromium, open_page

from pipeline.runs import load_run
from validation.validate import PanelOptions, run_gate, write_all

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed: run .ci/install-chromium (Debian's chromium package)"
)


@needs_chromium
def test_the_check_sees_console_errors_exceptions_and_broken_images(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><head><title>bad</title></head><body><div id='decision'>X</div>"
                   "<img src='data:image/png;base64,AAAA'><script>console.error('boom'); missing();</script>"
                   "</body></html>")  # fmt: skip
    check = open_page(bad, tmp_path / "bad.png", CHROMIUM)  # type: ignore[arg-type]
    assert any("boom" in e for e in check.errors) and any("missing" in e for e in check.errors)
    assert (check.images, check.images_loaded, check.decision) == (1, 0, "X")


@needs_chromium
def test_report_page_loads_cleanly_and_shows_the_decision(hopper_runs: dict[str, Path], tmp_path: Path) -> None:
    report = run_gate([load_run(hopper_runs["better"])], [load_run(hopper_runs["baseline"])],
                      [sft.payload(), sft.weak_thigh()], options=PanelOptions(episodes=6, max_steps=60))  # fmt: skip
    write_all(report, tmp_path)
    shot = tmp_path / "report.png"
    check = open_page(tmp_path / "report.html", shot, CHROMIUM)  # type: ignore[arg-type]
    assert check.errors == []
    assert check.decision == report["decision"] and check.title.endswith(report["decision"])
    shots = [e for per in report["failure_frames"].values() for e in per.values() if "jpeg" in e]
    assert shots  # issue 21, item 9: frames of each arm's first real-panel failure, and the learning curves
    # three distributions, the scatter, the learning curves and the failure frames, all decoded
    assert check.images == check.images_loaded == 4 + 1 + len(shots)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    keep = os.environ.get("SYNTHGATE_SCREENSHOT")  # where to keep the screenshot, if asked
    if keep:
        shutil.copy(shot, keep)
    print(f"screenshot: {shot}")
