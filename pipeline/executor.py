"""Where independent jobs run: in this process, in a local process pool, or on Ray.

A job is a picklable function applied to one item (a sweep job, a chunk of panel episodes). The
executor only decides where it runs; every job carries its own seeds, so the same items give the
same results on every executor. Ray is the engine past one machine (docs/architecture.md, "Scale"): with
``address`` it joins a cluster, without one it starts a local Ray on demand. Nothing home-made
plays that role; the default needs no server.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")

EXECUTORS = ("local", "ray")


class ExecutorError(RuntimeError):
    """An executor could not be set up (Ray missing, a cluster address that does not answer)."""


class Executor(Protocol):
    """Runs ``fn`` on every item and returns the results in the items' order."""

    @property
    def name(self) -> str: ...

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]: ...


@dataclass(frozen=True)
class LocalExecutor:
    """``workers <= 1``: in this process, one item after another; otherwise a pool of ``workers``
    spawned processes (spawn, not fork: torch and MuJoCo state are not fork-safe)."""

    workers: int = 1
    name: str = "local"

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if self.workers <= 1 or len(items) <= 1:
            return [fn(item) for item in items]
        with ProcessPoolExecutor(max_workers=min(self.workers, len(items)), mp_context=get_context("spawn")) as pool:
            return list(pool.map(fn, items))


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
