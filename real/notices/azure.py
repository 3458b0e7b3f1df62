"""Azure: Scheduled Events, event type `Preempt` (FACTS.md "Cloud metadata notices").

`GET /metadata/scheduledevents?api-version=2020-07-01` with `Metadata: true` (the
server answers 400 without it) lists events; a `Preempt` naming this VM in
`Resources` is the notice, `NotBefore` the time it may start, at least 30 s after
the notice (Microsoft's minimum for Preempt): the lag is measured from NotBefore
minus 30 s. Microsoft recommends polling once a second. The first request of a VM
enables the service and may take up to two minutes to answer. Once the trainer's
state is durable the supervisor POSTs `{"StartRequests": [{"EventId": ...}]}` so the
eviction may go ahead early, unless the event names other VMs too (an approval
lets it proceed for all of them).
"""
from __future__ import annotations

import json

from .base import CloudNotice, Source, http_date, seen
from .http import NoticeError, request

PATH = "/metadata/scheduledevents?api-version=2020-07-01"
NAME = "/metadata/instance/compute/name?api-version=2021-02-01&format=text"
HEADERS = {"Metadata": "true"}


class AzureSource(Source):
    name, cloud = "azure", "Azure"
    default_url = "http://169.254.169.254"
    window_s = 30.0
    default_poll_s = 1.0
    first_read_s = 130.0
    """The first request enables Scheduled Events and may take up to two minutes (Microsoft's docs)."""

    def __init__(self, url=None, poll_s=None):
        super().__init__(url, poll_s)
        self.vm: str | None = None
        self.reported: set[str] = set()

    def probe(self) -> CloudNotice | None:
        r = request(self.ep, "GET", NAME, HEADERS, read_s=self.read_s)
        if r.status != 200 or not r.text():
            raise self.refused("GET /metadata/instance/compute/name", r)
        self.vm = r.text()
        return self.check(first=True)

    def check(self, first: bool = False) -> CloudNotice | None:
        r = request(self.ep, "GET", PATH, HEADERS, read_s=self.first_read_s if first else self.read_s)
        if r.status != 200:
            raise self.refused("GET /metadata/scheduledevents", r)
        try:
            events = json.loads(r.body)["Events"]
            events = [e for e in events if isinstance(e, dict)]
        except (ValueError, KeyError, TypeError):
            raise NoticeError(f"the Azure metadata server at {self.url} answered scheduledevents with "
                              f"{r.text()[:120]!r}, not {{\"Events\": [...]}}") from None
        for e in events:
            resources = [str(x) for x in e.get("Resources") or []]
            mine = self.vm is None or not resources or self.vm in resources
            eid = str(e.get("EventId", ""))
            if e.get("EventType") == "Preempt" and mine:
                n = seen(self.name)
                nb = str(e.get("NotBefore") or "")
                try:
                    end = http_date(nb) if nb else None
                except (TypeError, ValueError):
                    end = None
                return CloudNotice(n.source, n.seen_at, n.seen_wall,
                                   notice_wall=None if end is None else end - self.window_s, deadline_wall=end,
                                   poll_s=self.poll_s,
                                   detail={"event_id": eid, "cloud_time": nb or None,
                                           "event_status": e.get("EventStatus"), "resources": resources})
            if eid not in self.reported:
                self.reported.add(eid)
                why = "for other VMs" if not mine else "not a preemption"
                self.warnings.append(f"scheduled event {e.get('EventType')} {eid} ({e.get('EventStatus')}, not "
                                     f"before {e.get('NotBefore') or '-'}) {why}: logged only")
        return None

    def acknowledge(self, notice: CloudNotice) -> str | None:
        eid = notice.detail.get("event_id")
        others = [x for x in notice.detail.get("resources") or [] if x != self.vm]
        if not eid:
            return None
        if others:
            return (f"event {eid} not acknowledged: it names other VMs too ({', '.join(others)}), and an "
                    f"approval would let it proceed for them as well")
        body = json.dumps({"StartRequests": [{"EventId": eid}]}).encode()
        r = request(self.ep, "POST", PATH, {**HEADERS, "Content-Type": "application/json"}, body,
                    read_s=self.read_s)
        if r.status != 200:
            raise self.refused(f"POST StartRequests for {eid}", r)
        return f"event {eid} acknowledged (StartRequests): the VM may go now"
