"""``studies/online.py train`` runs each ``synthgate train`` in a child process; a SIGTERM or a Ctrl-C sent
to the study alone (as a scheduler or ``kill`` does) must reach every running run, so that each
checkpoints and none is left training on, and no queued run may start after it. A run past the
study's time limit is stopped the same way (SIGTERM, so it checkpoints) and reported as timed out.

The runs are stood in for by a child that writes ``ready-<seed>``, and on SIGTERM or SIGINT writes
``saved-<seed>`` and exits 128 + signal, as ``synthgate train`` does after its checkpoint.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import SAVING_CHILD, gone, wait_for

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from studies import online

    OUT = Path(sys.argv[1])
    online.command = lambda task, arm, seed, *rest: [sys.executable, str(OUT / "child.py"), str(OUT), str(seed)]
    sys.exit(online.main(["train", "cartpole-swingup", "--arms", "sac", "--seeds", sys.argv[3], "--workers", "2",
                          "--root", str(OUT / "runs"), "--timeout-min", sys.argv[2]]))
    """
)


def _start(tmp_path: Path, timeout_min: str, seeds: str) -> subprocess.Popen[str]:
    script = tmp_path / "study.py"
    script.write_text(SCRIPT)
    (tmp_path / "child.py").write_text(SAVING_CHILD)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(script), str(tmp_path), timeout_min, seeds], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_sent_to_the_study_reaches_its_running_runs_and_no_queued_run_starts(tmp_path: Path, sig: int) -> None:
    study = _start(tmp_path, "600", "90,91,92,93")
    try:
        wait_for([tmp_path / "ready-90", tmp_path / "ready-91"])
        study.send_signal(sig)  # the study alone, not its process group
        out, _ = study.communicate(timeout=60)
    finally:
        study.kill()
    assert study.returncode == 128 + sig, out
    name = signal.Signals(sig).name
    assert f"stopped: {name} passed to the running runs: 2 of 4 ran (each checkpointed), 2 never started" in out
    for seed in (90, 91):  # each running run saved its work in its own process, and is gone
        saved = (tmp_path / f"saved-{seed}").read_text()
        assert saved == (tmp_path / f"ready-{seed}").read_text()
        assert gone(int(saved)), f"run {seed} outlived the study"
    assert not (tmp_path / "ready-92").exists() and not (tmp_path / "ready-93").exists()


def test_a_run_past_the_time_limit_is_stopped_so_it_checkpoints_and_counts_as_timed_out(tmp_path: Path) -> None:
    study = _start(tmp_path, "0.1", "90,91")  # 6 s, run side by side
    try:
        out, _ = study.communicate(timeout=120)
    finally:
        study.kill()
    assert study.returncode == 1, out
    assert out.count("timed out") == 2 and "cartpole-swingup: 0 of 2 trained" in out, out
    for seed in (90, 91):
        assert (tmp_path / f"saved-{seed}").read_text() == (tmp_path / f"ready-{seed}").read_text()
