"""A notice source polled in a daemon thread of the supervisor, with a log of what it saw.

The supervisor owns the thread (not the trainer): it is up before any trainer
starts, so an unreachable server is reported before training; it outlives trainer
restarts; it competes with nothing in the training process; and the trainer's own
notice path stays its SIGTERM handler, which the supervisor triggers.
"""
from __future__ import annotations

import queue
import statistics
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from .base import CloudNotice, Source
from .http import NoticeError

RETRY_S = 1.0
"""Wait after a failed poll (a metadata server restarting, a dropped long-poll)."""


class Watcher:
    def __init__(self, source: Source, log_path: Path | None = None):
        self.source = source
        self.notice: CloudNotice | None = None
        self.seen = threading.Event()
        self.messages: queue.SimpleQueue[str] = queue.SimpleQueue()
        """Lines for the console (the supervisor shows them)."""
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.log_path = log_path
        self._thread: threading.Thread | None = None
        self.polls = 0
        self.rtts: list[float] = []

    def log(self, line: str, console: bool = False) -> None:
        """One line of `logs/notices.log` (and of the console, if asked)."""
        if console:
            self.messages.put(f"notices: {line}")
        if self.log_path is None:
            return
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        with self._lock, open(self.log_path, "a", encoding="utf-8") as fh:  # rare lines: open per line
            fh.write(f"{stamp} {self.source.name}: {line}\n")

    def start(self) -> None:
        self.log(f"watching {self.source.describe()}")
        self._thread = threading.Thread(target=self._loop, name=f"notices-{self.source.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self.rtts:
            self.log(f"{self.polls} polls; round trip median {statistics.median(self.rtts) * 1e3:.1f} ms, "
                     f"max {max(self.rtts) * 1e3:.1f} ms")

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                n = self.source.check()
            except NoticeError as exc:
                failures += 1
                if failures == 1 or failures % 60 == 0:
                    self.log(f"poll failed ({failures} in a row), retrying every {RETRY_S:g} s: {exc}",
                             console=failures == 1)
                self._stop.wait(RETRY_S)
                continue
            except Exception as exc:  # noqa: BLE001  (a bug must not kill the watcher silently)
                failures += 1
                self.log(f"poll raised {type(exc).__name__}: {exc}", console=failures == 1)
                self._stop.wait(RETRY_S)
                continue
            self.polls += 1
            if not self.source.long_poll:
                self.rtts.append(time.monotonic() - t0)
            if failures:
                self.log(f"polling again after {failures} failures", console=True)
                failures = 0
            for w in self.source.warnings:
                self.log(w, console=True)
            self.source.warnings.clear()
            if n is not None:
                self.notice = n
                self.log(f"NOTICE {_describe(n)}")
                self.seen.set()
                return
            if self.source.long_poll:
                # a server answering at once without a change must not become a busy loop
                self._stop.wait(max(0.0, 0.05 - (time.monotonic() - t0)))
            else:
                self._stop.wait(self.source.poll_s)


def _describe(n: CloudNotice) -> str:
    parts = [f"{k}={v}" for k, v in n.detail.items() if v not in (None, [], "")]
    if n.deadline_wall is not None:
        parts.append(f"the cloud ends the VM in {n.deadline_wall - n.seen_wall:.1f} s")
    return ", ".join(parts)
