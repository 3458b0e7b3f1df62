"""The event log as real processes write it: spotsim.events records plus `wall` and `pid`.

`t` is run time read from the monotonic clock (`time.monotonic()`, the
system-wide CLOCK_MONOTONIC on Linux and macOS, so the supervisor and its
trainers share it), so a wall-clock step (NTP, a suspended laptop) cannot bend
an uptime, a wait or a latency; `wall` is the Unix time of the same moment, for
people and for lining a log up with other logs.

The log is always written locally. With `--ckpt-dir`, LogMirror copies it (and
the run's other files) there: the trainer after every durable checkpoint and at
its exit, the supervisor when the run starts and ends, so a new machine that
resumes from the checkpoints also continues the log.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from spotsim.events import EventLog

from . import storage

log = logging.getLogger("real.runlog")


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


class LogMirror:
    """Copies a run's local files to its checkpoint location, each when it has changed.

    Files: run.json, events.jsonl (complete lines only: another process may be
    appending), uptimes.json and final.pt where the location is an object store
    (a local location keeps uptimes in itself), and the trainers' logs/. `copy`
    copies now; `request` asks a background thread to, and `flush` waits until
    what was there when it was called is copied. A failed copy is a warning, not
    an error: the checkpoints, which are what a resume needs, went their own way.
    Disabled (every call does nothing) without a location.
    """

    def __init__(self, out: str | os.PathLike, location: str | None):
        self.out = Path(out)
        self.location = location
        self._loc = None
        self._copied: dict[str, tuple[int, int]] = {}
        self._cv = threading.Condition()
        self._wanted = self._done = 0
        self._thread: threading.Thread | None = None

    def _files(self) -> list[str]:
        names = [storage.RUN_JSON, storage.EVENTS]
        if storage.is_remote(self.location):
            names += [storage.UPTIMES, storage.FINAL]
        logs = self.out / "logs"
        if logs.is_dir():
            names += [f"logs/{p.name}" for p in sorted(logs.glob("*.log"))]
        return names

    def copy(self) -> list[str]:
        """Copy what changed since the last copy; returns one warning per file that failed."""
        if not self.location:
            return []
        warnings = []
        for name in self._files():
            p = self.out / name
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            stamp = (st.st_size, st.st_mtime_ns)
            if self._copied.get(name) == stamp:
                continue
            try:
                data = p.read_bytes()
                if name == storage.EVENTS:
                    data = data[:data.rfind(b"\n") + 1]
                if self._loc is None:
                    self._loc = storage.Location(self.location)
                self._loc.write(name, data)
                self._copied[name] = stamp
            except Exception as exc:  # the store's own errors too: copying is best effort
                warnings.append(f"could not copy {name} to {self.location}: {storage.one_line(exc)}")
                log.warning("%s", warnings[-1])
        return warnings

    def request(self) -> int:
        """Ask for a copy in the background; returns its ticket for `flush`."""
        if not self.location:
            return 0
        with self._cv:
            self._wanted += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="log-mirror", daemon=True)
                self._thread.start()
            self._cv.notify_all()
            return self._wanted

    def flush(self, timeout: float | None = None) -> bool:
        """Copy what is there now and wait for it (at most `timeout` s); False if it did not finish."""
        ticket = self.request()
        with self._cv:
            return self._cv.wait_for(lambda: self._done >= ticket, timeout)

    def _work(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._wanted > self._done)
                ticket = self._wanted
            self.copy()
            with self._cv:
                self._done = ticket
                self._cv.notify_all()
