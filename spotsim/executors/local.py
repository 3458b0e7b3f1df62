"""The local executor: tasks in this process (one job) or in a pool of forked worker processes."""
from __future__ import annotations

import multiprocessing as mp

from . import Executor, Work


class LocalExecutor(Executor):
    """Runs tasks in this process for one job, in a process pool of `jobs` workers otherwise.

    Workers ignore SIGINT: the parent handles Ctrl-C and terminates them.
    """

    name = "local"

    def __init__(self):
        self.pool = None
        self.work: Work | None = None

    def start(self, work: Work, jobs: int) -> None:
        self.work = work
        if jobs > 1:
            methods = mp.get_all_start_methods()
            ctx = mp.get_context("fork" if "fork" in methods else methods[0])
            self.pool = ctx.Pool(jobs, initializer=work.init, initargs=(work.state, True))
        else:
            work.init(work.state, False)

    def map(self, tasks):
        if self.pool is None:
            return map(self.work.run, tasks)
        return self.pool.imap(self.work.run, tasks, chunksize=1)

    def close(self, abort: bool = False) -> None:
        if self.pool is not None:
            if abort:
                self.pool.terminate()
            else:
                self.pool.close()
            self.pool.join()
            self.pool = None

    def describe(self, jobs: int) -> str:
        return f"{jobs} worker(s)"
