"""Where independent jobs run: in this process, in a local process pool, or on Ray.

A job is a picklable function applied to one item (a sweep job, a chunk of panel episodes). The
executor only decides where it runs; every job carries its own seeds, so the same items give the
same results on every executor. Ray is the engine past one machine (docs/architecture.md, "Scale"): with
``address`` it joins a cluster, without one it starts a local Ray on demand. Nothing home-made
plays that role; the default needs no server.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")

EXECUTORS = ("local", "ray")


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ExecutorError(RuntimeError):
    """An executor could not be set up (Ray missing, a cluster address that does not answer)."""


class Stopped(Exception):
    """Work stopped on SIGINT or SIGTERM (``signum``) after saving what it could; running the same
    command again resumes it. ``pipeline.train.Interrupted`` is the one-run case."""

    def __init__(self, signum: int, message: str) -> None:
        self.signum = signum
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:  # crosses process boundaries intact
        return (type(self), (self.signum, str(self)))


class Executor(Protocol):
    """Runs ``fn`` on every item and returns the results in the items' order."""

    @property
    def name(self) -> str: ...

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]: ...


@dataclass(frozen=True)
class LocalExecutor:
    """``workers <= 1``: in this process, one item after another; otherwise a pool of ``workers``
    spawned processes (spawn, not fork: torch and MuJoCo state are not fork-safe).

    A pool's stop signals: while :meth:`map` runs in the main thread, each worker leads a process
    group of its own (with the processes its job starts, such as a sweep's ``synthgate train``), and
    a SIGINT (Ctrl-C) or SIGTERM sent to this process is passed to every worker's group. A worker
    never dies of it mid-job: the job handles it (a training run checkpoints its last step and
    stops; other jobs finish their item). Jobs not started yet are cancelled, and once the running
    ones have ended :meth:`map` raises :class:`Stopped`. A second Ctrl-C kills the workers at once
    (losing the work since their last checkpoint)."""

    workers: int = 1
    name: str = "local"

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if self.workers <= 1 or len(items) <= 1:
            return [fn(item) for item in items]
        forward = threading.current_thread() is threading.main_thread()
        with ProcessPoolExecutor(max_workers=min(self.workers, len(items)), mp_context=get_context("spawn"),
                                 initializer=_stop_aware_worker if forward else None) as pool:  # fmt: skip
            futures = [pool.submit(_unless_stopped, fn, item) for item in items]
            if not forward:  # signals reach the workers as they do any child (same process group)
                return [f.result() for f in futures]
            with _forwarding_stops(pool) as stop:
                pending: set[Future[R]] = set(futures)
                while pending and stop.signum is None:
                    done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
                    if any(f.exception() is not None for f in done):
                        break  # the first failure is raised below, in the items' order
                if stop.signum is not None:
                    for f in futures:
                        f.cancel()  # only the ones not started yet
                    wait(futures)  # the running ones end their item or checkpoint
                    raise _stopped(stop.signum, futures)
            return [f.result() for f in futures]


_stop_signum: int | None = None
"""In a pool worker: the stop signal it was sent, if any; it starts no job after one."""


class _NotStarted(Stopped):
    """A job a worker never started because a stop had come first."""


def _stop_aware_worker() -> None:
    """A pool worker's initializer: its own process group, and stop signals noted, never fatal, so a
    job ends its item (or, training, checkpoints and stops: its own handler takes over)."""
    os.setpgrp()
    for sig in STOP_SIGNALS:
        signal.signal(sig, _note_stop)


def _note_stop(signum: int, frame: Any) -> None:
    global _stop_signum
    _stop_signum = signum


def _unless_stopped(fn: Callable[[T], R], item: T) -> R:
    """Runs ``fn(item)`` in a pool worker unless a stop came first (a job already queued to it)."""
    global _stop_signum
    if _stop_signum is not None:
        raise _NotStarted(_stop_signum, "not started: a stop came first")
    try:
        return fn(item)
    except Stopped as stop:  # the job's own handler took the signal (a training run checkpointed)
        _stop_signum = stop.signum
        raise


class _StopState:
    signum: int | None = None


@contextmanager
def _forwarding_stops(pool: ProcessPoolExecutor) -> Iterator[_StopState]:
    """While entered, SIGINT and SIGTERM are passed on to every worker's process group; a second
    SIGINT kills them and raises KeyboardInterrupt."""
    state = _StopState()

    def send(sig: int) -> None:
        for pid in list(getattr(pool, "_processes", None) or {}):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:  # not a group leader yet (still starting) or already gone
                with suppress(ProcessLookupError):
                    os.kill(pid, sig)

    def handle(signum: int, frame: Any) -> None:
        if state.signum is not None and signum == signal.SIGINT:
            send(signal.SIGKILL)
            raise KeyboardInterrupt
        state.signum = signum
        send(signum)

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}
    try:
        yield state
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stopped(signum: int, futures: Sequence[Future[Any]]) -> Stopped:
    """What a pool stopped by ``signum`` left: how many jobs ran (to their end, or stopped by it) and
    how many never started."""
    cancelled = sum(f.cancelled() or isinstance(f.exception(), _NotStarted) for f in futures)
    broken = any(not f.cancelled() and isinstance(f.exception(), BrokenProcessPool) for f in futures)
    lost = " (a worker died before its job could save anything)" if broken else ""
    return Stopped(signum, f"{signal.Signals(signum).name} passed to the running jobs: {len(futures) - cancelled} "
                           f"of {len(futures)} jobs ran{lost} (a training run stopped by it checkpointed its last "
                           f"step), {cancelled} never started; run the same command to resume")  # fmt: skip


@dataclass(frozen=True)
class RayExecutor:
    """Each item is one Ray task. ``address=None`` starts (or reuses) a local Ray with ``num_cpus``
    CPUs; an address (``auto``, or whatever ``ray.init(address=...)`` accepts) joins that cluster."""

    address: str | None = None
    num_cpus: int | None = None
    name: str = "ray"

    def _init(self) -> Any:
        try:
            import ray
        except ImportError as err:
            raise ExecutorError(
                f"executor=ray needs the ray package ({err}); install it with: pip install 'synthgate[ray]'"
            ) from None
        if not ray.is_initialized():
            try:
                ray.init(
                    address=self.address,
                    num_cpus=None if self.address else self.num_cpus,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            except (ConnectionError, RuntimeError, ValueError) as err:
                where = self.address or "a local Ray"
                raise ExecutorError(f"could not start or join {where}: {err}") from None
        return ray

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        ray = self._init()
        task = ray.remote(num_cpus=1)(fn)
        return list(ray.get([task.remote(item) for item in items]))


def make_executor(name: str, workers: int = 1, address: str | None = None) -> Executor:
    """The executor called ``name`` (``local`` or ``ray``).

    Raises:
        ExecutorError: an unknown name.
    """
    if name == "local":
        return LocalExecutor(workers=workers)
    if name == "ray":
        return RayExecutor(address=address, num_cpus=workers if workers > 0 else None)
    raise ExecutorError(f"executor={name!r}; valid: {', '.join(EXECUTORS)}")
