"""The event log as real processes write it: spotsim.events records plus `wall` and `pid`.

`t` is run time read from the monotonic clock (`time.monotonic()`, the
system-wide CLOCK_MONOTONIC on Linux and macOS, so the supervisor and its
trainers share it), so a wall-clock step (NTP, a suspended laptop) cannot bend
an uptime, a wait or a latency; `wall` is the Unix time of the same moment, for
people and for lining a log up with other logs.
"""
from __future__ import annotations

import os
import time

from spotsim.events import EventLog


class RunLog:
    def __init__(self, path, clock_origin: float):
        """`clock_origin`: the `time.monotonic()` reading at which run time would be 0."""
        self._log = EventLog(path, source="real", fsync=True)
        self.origin = clock_origin

    def t(self, at: float | None = None) -> float:
        """Run time (seconds) of the monotonic instant `at` (default: now)."""
        return round((time.monotonic() if at is None else at) - self.origin, 6)

    def emit(self, event: str, at: float | None = None, **fields) -> dict:
        """Append one record; `at` (a `time.monotonic()` reading) dates it, default now."""
        now = time.monotonic()
        at = now if at is None else at
        wall = time.time() - (now - at)
        return self._log.emit(event, self.t(at), wall=round(wall, 6), pid=os.getpid(), **fields)

    def close(self) -> None:
        self._log.close()
