"""Where a sweep's chunks run: an executor maps tasks to their results, in task order.

A sweep is a list of independent tasks (chunks of replications of one cell, each
with its own seeds); a task's result depends on the task alone, so any executor,
any number of workers and any completion order give the same numbers. `local`
runs them in this process (one job) or a process pool; `dask` on a Dask
cluster (a LocalCluster, or a running scheduler), an optional extra.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import SpotsimError

EXECUTORS = ("local", "dask")


class ExecutorError(SpotsimError):
    """An executor that cannot start or lost its workers; the message starts with the flag."""


@dataclass(frozen=True)
class Work:
    """What every task runs: `init(state, ignore_sigint)` once per worker process before its first
    task, then `run(task)` per task. Both module-level functions (workers import them by name)."""

    init: Callable[[Any, bool], None]
    run: Callable[[Any], Any]
    state: Any


class Executor:
    """Runs tasks and yields their results in task order, whatever order they finish in."""

    name = "executor"

    def connect(self, jobs: int) -> None:
        """Acquire the workers (a cluster, a pool) now, so that a failure is refused before a sweep starts."""

    def start(self, work: Work, jobs: int) -> None:
        """Prepare the workers for `work`: `jobs` is the worker count where this executor chooses it."""
        raise NotImplementedError

    def map(self, tasks: Iterable) -> Iterator:
        """Each task's result, in task order."""
        raise NotImplementedError

    def close(self, abort: bool = False) -> None:
        """Stop the workers this executor started (`abort`: at once, dropping tasks not yet done)."""

    def describe(self, jobs: int) -> str:
        """Where the tasks run, for the sweep's first line."""
        return self.name


def make_executor(kind: str, scheduler: str | None = None) -> Executor:
    """The executor named `kind` (EXECUTORS); `scheduler` (a Dask scheduler's address) only with dask."""
    if kind not in EXECUTORS:
        raise ExecutorError(f"--executor: unknown executor {kind!r}; choose from {', '.join(EXECUTORS)}")
    if kind == "local":
        if scheduler:
            raise ExecutorError("--scheduler: only with --executor dask (the local executor uses this machine's "
                                "cores)")
        from .local import LocalExecutor
        return LocalExecutor()
    from .dask import DaskExecutor
    return DaskExecutor(scheduler=scheduler)
