"""The stand-in children of the stop tests publish their files whole (issue 34).

``test_online_train_stop`` failed once in CI with ``assert '4352' == ''``: the child wrote
``ready-<id>`` with ``Path.write_text``, which creates the file and then writes it, and the signal
the test sends as soon as the file exists arrived in between. Here the child is slowed down inside
that window (``PUBLISH_DELAY_S``), and the file must still never be seen empty.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from helpers import SAVING_CHILD, gone, wait_for


def test_a_waited_for_file_is_never_seen_before_its_content(tmp_path: Path) -> None:
    (tmp_path / "child.py").write_text(SAVING_CHILD)
    env = {**os.environ, "PUBLISH_DELAY_S": "0.5"}
    child = subprocess.Popen([sys.executable, str(tmp_path / "child.py"), str(tmp_path), "7"], env=env)
    try:
        wait_for([tmp_path / "ready-7"])
        seen = (tmp_path / "ready-7").read_text()  # at once, as the stop tests do before signalling
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        child.kill()
    assert seen == str(child.pid)
    assert (tmp_path / "saved-7").read_text() == str(child.pid)
    assert gone(child.pid)
    assert not list(tmp_path.glob(".*.tmp")), "a temporary name was left behind"
