"""A local pool's stop signals (``pipeline.executor.LocalExecutor``): a SIGTERM or a Ctrl-C sent to the
parent reaches every running job, jobs in process of their own included (a sweep's ``synthgate train``),
each saves its work, jobs not started never start, and the parent says so instead of dying silently
and leaving its workers training on.

The parent is a script run in a subprocess, so the signal is sent to it alone, as a scheduler's
SIGTERM is; its jobs stand in for the two kinds the product runs: a training run in the worker
(``in_worker``: handles the signal itself, saves, raises ``Stopped`` as ``Interrupted`` does) and a
job whose work is a child process (``in_child``: the child handles the signal, saves and exits 143).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import PUBLISH, SAVING_CHILD, gone, wait_for

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = PUBLISH + textwrap.dedent(
    """
    import os, signal, subprocess, sys, time
    from pathlib import Path
    from pipeline.executor import LocalExecutor, Stopped

    OUT = Path(sys.argv[1])

    def in_worker(i):
        got = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: got.append(signum))
        publish(OUT / f"ready-{i}", str(os.getpid()))
        while not got:
            time.sleep(0.05)
        publish(OUT / f"saved-{i}", str(os.getpid()))
        raise Stopped(got[0], f"job {i} saved")

    def in_child(i):
        return subprocess.run([sys.executable, str(OUT / "child.py"), str(OUT), str(i)]).returncode

    if __name__ == "__main__":
        fn = in_worker if sys.argv[2] == "in_worker" else in_child
        try:
            print("RESULTS", LocalExecutor(workers=2).map(fn, list(range(5))), flush=True)
        except Stopped as stop:
            print("STOPPED", stop.signum, stop, flush=True)
            sys.exit(3)
    """
)


@pytest.mark.parametrize(("kind", "sig"), [("in_worker", signal.SIGTERM), ("in_child", signal.SIGTERM),
                                           ("in_child", signal.SIGINT)])  # fmt: skip
def test_a_stop_sent_to_the_parent_reaches_every_running_job_and_nothing_new_starts(
    tmp_path: Path, kind: str, sig: int
) -> None:
    script = tmp_path / "parent.py"
    script.write_text(SCRIPT)
    (tmp_path / "child.py").write_text(SAVING_CHILD)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path), kind], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for([tmp_path / "ready-0", tmp_path / "ready-1"])
        parent.send_signal(sig)  # the parent alone, not its process group
        out, _ = parent.communicate(timeout=60)
    finally:
        parent.kill()
    assert parent.returncode == 3, out
    name = signal.Signals(sig).name
    assert f"STOPPED {int(sig)} {name} passed to the running jobs: 2 of 5 jobs ran" in out, out
    assert "3 never started; run the same command to resume" in out, out
    for i in (0, 1):  # each running job saved its work, in the process that did it
        saved = tmp_path / f"saved-{i}"
        assert saved.read_text() == (tmp_path / f"ready-{i}").read_text()
        pid = int(saved.read_text())
        assert gone(pid), f"job {i}'s process {pid} outlived the parent"
    assert not any((tmp_path / f"ready-{i}").exists() for i in (2, 3, 4))


def test_without_a_signal_the_pool_returns_every_result_in_order(tmp_path: Path) -> None:
    from pipeline.executor import LocalExecutor

    assert LocalExecutor(workers=2).map(abs, [-3, 1, -2, 5]) == [3, 1, 2, 5]


def test_a_stopped_training_run_crosses_a_process_boundary_whole() -> None:
    """A pool worker's run raises ``Interrupted``; the parent must get it, not an unpickling error."""
    import pickle

    from pipeline.executor import Stopped
    from pipeline.train import Interrupted

    stop = pickle.loads(pickle.dumps(Interrupted(signal.SIGTERM, 1234, [Path("run/checkpoints/ckpt.pt")])))
    assert isinstance(stop, Interrupted) and isinstance(stop, Stopped)
    assert (stop.signum, stop.step, stop.checkpoints) == (signal.SIGTERM, 1234, [Path("run/checkpoints/ckpt.pt")])
    assert str(stop).startswith("SIGTERM at step 1234: checkpointed to run/checkpoints/ckpt.pt")
