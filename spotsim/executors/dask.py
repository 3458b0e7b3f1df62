"""The Dask executor: tasks on a Dask cluster, a LocalCluster of this machine or a running scheduler.

Each task is submitted under a key made of the work's and the task's contents and
computes the same bytes wherever it runs, so a task whose worker is lost (before
or after it finished, its result not yet fetched) is simply computed again by the
scheduler on another worker (up to Dask's `distributed.scheduler.allowed-failures`
deaths of a worker running that very task). The work's state (the sweep) is a
task of its own, so a worker that joins later, or replaces a lost one, gets it
from the scheduler. At most WINDOW_PER_THREAD tasks per worker thread are in
flight: results wait in order for the slowest, not in memory for the whole sweep.
Needs the `dask` extra: pip install 'spotsim[dask]'.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import logging
import pickle
import signal
import threading
from collections import deque

from . import Executor, ExecutorError, Work

CONNECT_TIMEOUT_S = 5.0
"""How long `--scheduler ADDRESS` waits for the scheduler to answer before refusing in one line."""
WINDOW_PER_THREAD = 4
MIN_WINDOW = 16
"""Dask tasks in flight at most: WINDOW_PER_THREAD per worker thread, at least MIN_WINDOW."""
MAX_TASKS_PER_SUBMIT = 16
MIN_GROUPS_PER_THREAD = 4
INSTALL = "install it with `pip install 'spotsim[dask]'` (Dask with its distributed scheduler)"
_PREPARED: dict = {}
"""Per worker process: the token of the work its `init` last prepared."""


def _hold(state):
    """The work's state as a task of its own (recomputed by the scheduler if the worker holding it is lost)."""
    return state


def _import(module: str) -> None:
    """Import the work's module on a worker before the first task (start-up, not the tasks, pays for it)."""
    importlib.import_module(module)


def _run(init, run, token: str, state, tasks: tuple) -> list:
    """A group of tasks on a worker: prepare the worker for this work once, then run each task."""
    if _PREPARED.get("token") != token:
        init(state, False)
        _PREPARED["token"] = token
    return [run(task) for task in tasks]


def group_size(tasks: int, threads: int) -> int:
    """Tasks per Dask task: up to MAX_TASKS_PER_SUBMIT, while every worker thread still gets
    MIN_GROUPS_PER_THREAD groups (a short phase is not held by one worker)."""
    return max(1, min(MAX_TASKS_PER_SUBMIT, tasks // (MIN_GROUPS_PER_THREAD * max(1, threads))))


def _distributed():
    try:
        import distributed
    except ImportError:
        raise ExecutorError(f"--executor dask: Dask is not installed; {INSTALL}") from None
    return distributed


class DaskExecutor(Executor):
    """Tasks on a Dask cluster.

    `scheduler`: the address of a running scheduler (`dask scheduler`); `client` or `cluster`: a
    distributed.Client or any cluster object a user has (LocalCluster, dask-jobqueue, ...), left open at
    close; none of them: a LocalCluster of `jobs` worker processes with one thread each, closed at close.
    """

    name = "dask"

    def __init__(self, scheduler: str | None = None, client=None, cluster=None):
        self.scheduler, self.client, self.cluster = scheduler, client, cluster
        self._own_client = self._own_cluster = False
        self._state = None
        self._pending: deque = deque()
        self.work: Work | None = None
        self.token = ""

    def connect(self, jobs: int) -> None:
        if self.client is not None:
            return
        distributed = _distributed()
        if self.cluster is None and self.scheduler:
            try:
                self.client = distributed.Client(self.scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
            except (OSError, TimeoutError, ValueError, TypeError) as exc:
                why = " ".join(str(exc).split()) or type(exc).__name__
                raise ExecutorError(
                    f"--scheduler: no Dask scheduler answered at {self.scheduler} within {CONNECT_TIMEOUT_S:g} s "
                    f"({why[:160]}); start one with `dask scheduler` and workers with `dask worker ADDRESS`, or "
                    f"leave out --scheduler for a local cluster") from None
            self._own_client = True
            return
        if self.cluster is None:
            self.cluster = _local_cluster(distributed, jobs)
            self._own_cluster = True
        self.client = distributed.Client(self.cluster, set_as_default=False)
        self._own_client = True

    def threads(self) -> int:
        return sum(self.client.nthreads().values()) if self.client is not None else 0

    def start(self, work: Work, jobs: int) -> None:
        self.connect(jobs)
        self.work = work
        try:
            self.client.run(_import, work.run.__module__)
        except ImportError as exc:
            raise ExecutorError(f"--executor dask: the cluster's workers cannot import {work.run.__module__} "
                                f"({exc}); install spotsim where they run") from None
        self.token = hashlib.sha256(pickle.dumps(work.state)).hexdigest()[:20]
        self._state = self.client.submit(_hold, work.state, key=f"spotsim-state-{self.token}")

    def _submit(self, group: tuple):
        digest = hashlib.blake2b(repr(group).encode(), digest_size=12).hexdigest()
        return self.client.submit(_run, self.work.init, self.work.run, self.token, self._state, group,
                                  key=f"spotsim-chunk-{self.token}-{digest}")

    def map(self, tasks):
        distributed = _distributed()
        tasks = list(tasks)
        threads = self.threads()
        size = group_size(len(tasks), threads)
        groups = iter([tuple(tasks[i:i + size]) for i in range(0, len(tasks), size)])
        window = max(MIN_WINDOW, WINDOW_PER_THREAD * threads)
        pending = self._pending = deque()
        for group in groups:
            pending.append(self._submit(group))
            if len(pending) >= window:
                break
        while pending:
            future = pending[0]
            try:
                results = future.result()
            except distributed.KilledWorker as exc:
                raise ExecutorError(f"--executor dask: workers kept dying while running one chunk ({exc}); "
                                    f"completed chunks are kept: continue with --resume") from None
            except distributed.CancelledError:
                raise ExecutorError("--executor dask: the cluster cancelled the sweep's tasks (scheduler lost?); "
                                    "completed chunks are kept: continue with --resume") from None
            pending.popleft()
            future.release()
            for group in groups:
                pending.append(self._submit(group))
                break
            yield from results

    def close(self, abort: bool = False) -> None:
        if self.client is None:
            return
        futures = list(self._pending) + ([self._state] if self._state is not None else [])
        self._pending.clear()
        self._state = None
        if futures:
            with contextlib.suppress(Exception):  # a client that lost its scheduler: nothing to cancel
                self.client.cancel(futures)
        if self._own_client:
            self.client.close()
            self.client = None
        if self._own_cluster:
            self.cluster.close()
            self.cluster = None

    def describe(self, jobs: int) -> str:
        if self._own_cluster:
            return f"a Dask LocalCluster of {jobs} worker process(es)"
        where = self.scheduler or getattr(self.client, "scheduler", None) and self.client.scheduler.address
        return f"the Dask cluster at {where} ({self.threads()} worker thread(s) now)"


def _local_cluster(distributed, jobs: int):
    """A LocalCluster of `jobs` processes, one thread each, quiet, without a dashboard (its scheduler's HTTP
    routes on a free port, not 8787). Its processes are started ignoring SIGINT where possible: Ctrl-C is
    the parent's to handle."""
    kw = {"n_workers": jobs, "threads_per_worker": 1, "processes": True, "host": "127.0.0.1",
          "dashboard_address": "127.0.0.1:0", "scheduler_kwargs": {"dashboard": False},
          "silence_logs": logging.ERROR}
    if threading.current_thread() is not threading.main_thread():
        return distributed.LocalCluster(**kw)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return distributed.LocalCluster(**kw)
    finally:
        signal.signal(signal.SIGINT, previous)
