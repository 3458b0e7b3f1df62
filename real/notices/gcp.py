"""GCP: `instance/preempted` on the metadata server, long-polled (FACTS.md "Cloud metadata notices").

The server answers `FALSE` or `TRUE` with an ETag; `wait_for_change=true&last_etag=E`
holds the request until the value differs from E (answering at once if it already
does), `timeout_sec` bounds the wait. Every request carries `Metadata-Flavor: Google`
(the server refuses others with 403). GCP says no time in the notice: the lag is
measured from the poll seeing it. The SIGTERM of the guest's ACPI shutdown, 30 s
before the hard off, reaches the trainer (and, in cloud mode, the supervisor) as well.
"""
from __future__ import annotations

from .base import CloudNotice, Source, seen
from .http import NoticeError, request

PATH = "/computeMetadata/v1/instance/preempted"
HEADERS = {"Metadata-Flavor": "Google"}


class GcpSource(Source):
    name, cloud = "gcp", "GCP"
    default_url = "http://metadata.google.internal"
    window_s = 30.0
    default_poll_s = 60.0
    """For GCP the longest a long-poll is held before it is asked again (`timeout_sec`)."""
    long_poll = True

    def __init__(self, url=None, poll_s=None):
        super().__init__(url, poll_s)
        self.etag: str | None = None

    def check(self, first: bool = False) -> CloudNotice | None:
        timeout = max(1, round(self.poll_s))
        query = "" if first else f"?wait_for_change=true&timeout_sec={timeout}" + (
            f"&last_etag={self.etag}" if self.etag else "")
        r = request(self.ep, "GET", PATH + query, HEADERS, read_s=self.read_s if first else timeout + 10.0)
        if r.status != 200:
            raise self.refused(f"GET {PATH}", r)
        value = r.text().upper()
        if value not in ("TRUE", "FALSE"):
            raise NoticeError(f"the GCP metadata server at {self.url} answered {PATH} with {r.text()[:80]!r}, "
                              f"not TRUE or FALSE")
        self.etag = r.headers.get("etag", self.etag)
        if value == "FALSE":
            return None
        n = seen(self.name, poll_s=None)
        return CloudNotice(n.source, n.seen_at, n.seen_wall, deadline_wall=n.seen_wall + self.window_s,
                           detail={"cloud_value": "TRUE"})

    def describe(self) -> str:
        return (f"GCP metadata at {self.url}, {PATH} long-polled (answered as soon as it changes; "
                f"asked again every {max(1, round(self.poll_s))} s)")
