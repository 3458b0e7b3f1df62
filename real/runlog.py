"""The event log as real processes write it: spotsim.events records plus `wall` and `pid`,
with `t` counted from the supervisor's run start."""
from __future__ import annotations

import os
import time

from spotsim.events import EventLog


class RunLog:
    def __init__(self, path, run_start_wall: float):
        self._log = EventLog(path, source="real", fsync=True)
        self.start = run_start_wall

    def t(self, wall: float | None = None) -> float:
        return round((time.time() if wall is None else wall) - self.start, 6)

    def emit(self, event: str, wall: float | None = None, **fields) -> dict:
        wall = time.time() if wall is None else wall
        return self._log.emit(event, self.t(wall), wall=round(wall, 6), pid=os.getpid(), **fields)

    def close(self) -> None:
        self._log.close()
