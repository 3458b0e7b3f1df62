"""AWS: the Spot interruption notice through IMDSv2 (FACTS.md "Cloud metadata notices").

A session token first (`PUT /latest/api/token` with the TTL header), then every
request carries it (`X-aws-ec2-metadata-token`; without it IMDSv2 answers 401).
`spot/instance-action` is 404 until a notice, then `{"action": ..., "time": ...}`,
`time` being when the action happens: the notice came two minutes before it
(AWS's documented warning), which is where the lag is measured from. AWS suggests
polling every 5 s. A rebalance recommendation (`events/recommendations/rebalance`)
is logged as an early warning; it is not a notice.
"""
from __future__ import annotations

import json
import time

from .base import CloudNotice, Source, iso_time, seen
from .http import NoticeError, request

TOKEN = "/latest/api/token"
ACTION = "/latest/meta-data/spot/instance-action"
REBALANCE = "/latest/meta-data/events/recommendations/rebalance"
TTL_S = 21600
"""The longest token IMDSv2 grants (6 h); renewed a minute before it runs out, or on a 401."""


class AwsSource(Source):
    name, cloud = "aws", "AWS"
    default_url = "http://169.254.169.254"
    window_s = 120.0
    default_poll_s = 5.0

    def __init__(self, url=None, poll_s=None):
        super().__init__(url, poll_s)
        self.token: str | None = None
        self.token_until = 0.0
        self.rebalance_at: float | None = None
        """`time.monotonic()` when the rebalance recommendation was first seen."""

    def _token(self) -> str:
        if self.token is None or time.monotonic() >= self.token_until:
            r = request(self.ep, "PUT", TOKEN, {"X-aws-ec2-metadata-token-ttl-seconds": str(TTL_S)},
                        read_s=self.read_s)
            if r.status != 200 or not r.text():
                raise self.refused(f"PUT {TOKEN}", r)
            self.token, self.token_until = r.text(), time.monotonic() + TTL_S - 60
        return self.token

    def _get(self, path: str):
        for attempt in (1, 2):
            r = request(self.ep, "GET", path, {"X-aws-ec2-metadata-token": self._token()}, read_s=self.read_s)
            if r.status == 401 and attempt == 1:
                self.token = None  # expired or revoked: one new token, then give up
                continue
            if r.status not in (200, 404):
                raise self.refused(f"GET {path}", r)
            return r

    def check(self, first: bool = False) -> CloudNotice | None:
        r = self._get(ACTION)
        if r.status == 200:
            try:
                doc = json.loads(r.body)
                action, when = str(doc["action"]), str(doc["time"])
                end = iso_time(when)
            except (ValueError, KeyError, TypeError):
                raise NoticeError(f"the AWS metadata server at {self.url} answered {ACTION} with "
                                  f"{r.text()[:120]!r}, not {{\"action\": ..., \"time\": ...}}") from None
            n = seen(self.name)
            detail = {"cloud_action": action, "cloud_time": when}
            if self.rebalance_at is not None:
                detail["rebalance_s"] = round(n.seen_at - self.rebalance_at, 6)
            return CloudNotice(n.source, n.seen_at, n.seen_wall, notice_wall=end - self.window_s,
                               deadline_wall=end, poll_s=self.poll_s, detail=detail)
        if self.rebalance_at is None:
            r = self._get(REBALANCE)
            if r.status == 200:
                self.rebalance_at = time.monotonic()
                self.warnings.append(f"early warning: AWS rebalance recommendation ({r.text()[:120]}): "
                                     f"the instance is at elevated risk of interruption; no notice yet")
        return None
