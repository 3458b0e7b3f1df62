"""What every notice source shares: the notice it reports and the interface the watcher polls."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime

from .http import NoticeError, Response, endpoint


@dataclass(frozen=True)
class CloudNotice:
    """A preemption notice as a source saw it."""

    source: str
    """`gcp`, `aws`, `azure`, or `shutdown` (a SIGTERM to the supervisor in cloud mode)."""
    seen_at: float
    """`time.monotonic()` when the poll saw it."""
    seen_wall: float
    notice_wall: float | None = None
    """Unix time at which the cloud gave the notice, where what it says allows it (AWS, Azure)."""
    deadline_wall: float | None = None
    """Unix time at which the cloud ends the VM, as it says (GCP: 30 s after the notice)."""
    poll_s: float | None = None
    detail: dict = field(default_factory=dict)
    """Fields for the `preempt_notice` record, e.g. `action`, `cloud_time`, `event_id`."""

    def lag_s(self, at: float) -> float:
        """Seconds from the cloud's notice (or, where it says no time, from the poll seeing it) to `at`
        (a `time.monotonic()` reading). The cloud's time is wall-clock, the rest monotonic."""
        lag = at - self.seen_at
        if self.notice_wall is not None:
            lag += self.seen_wall - self.notice_wall
        return lag


def seen(source: str, **kw) -> CloudNotice:
    return CloudNotice(source, time.monotonic(), time.time(), **kw)


def iso_time(text: str) -> float:
    """AWS's `2026-01-02T03:04:05Z` -> Unix time."""
    return datetime.fromisoformat(text.strip()).timestamp()


def http_date(text: str) -> float:
    """Azure's `Mon, 19 Sep 2016 18:29:47 GMT` -> Unix time."""
    return parsedate_to_datetime(text).timestamp()


class Source:
    """One cloud's metadata protocol. `probe` once at start-up, then `check` in a loop."""

    name = ""
    cloud = ""
    default_url = ""
    window_s = 0.0
    """Seconds from the notice to the kill the cloud documents (FACTS.md "Preemption notice")."""
    default_poll_s = 1.0
    long_poll = False
    """`check` blocks on the server until something changes (no sleep between checks)."""
    read_s = 5.0

    def __init__(self, url: str | None = None, poll_s: float | None = None):
        self.ep = endpoint(url or self.default_url)
        self.url = self.ep.url
        self.poll_s = float(poll_s or self.default_poll_s)
        self.warnings: list[str] = []
        """Early warnings and other news for the log (the watcher drains it)."""

    def probe(self) -> CloudNotice | None:
        """Ask once, as at start-up: raises NoticeError naming the server and what went wrong."""
        return self.check(first=True)

    def check(self, first: bool = False) -> CloudNotice | None:
        raise NotImplementedError

    def acknowledge(self, notice: CloudNotice) -> str | None:
        """Tell the cloud the VM may go now (Azure); returns what was done, or None."""
        return None

    def describe(self) -> str:
        return f"{self.cloud} metadata at {self.url}, polled every {self.poll_s:g} s"

    def refused(self, what: str, r: Response) -> NoticeError:
        body = r.text().replace("\n", " ")[:160]
        return NoticeError(f"the {self.cloud} metadata server at {self.url} answered {what} with "
                           f"{r.status} {r.reason}" + (f": {body}" if body else ""))
