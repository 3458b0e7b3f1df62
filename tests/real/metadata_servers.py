"""Local metadata servers speaking each cloud's notice protocol as documented (FACTS.md
"Cloud metadata notices"), for tests: the headers and tokens the real ones demand (and
the refusals without them), 404 before a notice, GCP's long-poll with ETags.

Each server runs in threads of the test process on 127.0.0.1; a test flips the notice
with `preempt()` (GCP, Azure) or `interrupt()` (AWS), and reads what clients sent in
`requests`. `reset()` is a fresh VM: no notice.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _serve(self, method: str) -> None:
        app = self.server.app
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        u = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        with app.cond:
            app.requests.append({"method": method, "path": u.path, "query": u.query, "headers": headers,
                                 "body": body})
        status, out_headers, payload = app.handle(method, u.path, parse_qs(u.query), headers, body)
        self.send_response(status)
        for k, v in out_headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):
        self._serve("GET")

    def do_PUT(self):
        self._serve("PUT")

    def do_POST(self):
        self._serve("POST")

    def log_message(self, *args):
        pass


class MetadataServer:
    def __init__(self):
        self.cond = threading.Condition()
        self.requests: list[dict] = []
        self.closing = False
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.app = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.reset()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def reset(self) -> None:
        raise NotImplementedError

    def handle(self, method, path, query, headers, body):
        raise NotImplementedError

    def close(self) -> None:
        with self.cond:
            self.closing = True
            self.cond.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _text(status: int, text: str, **headers) -> tuple:
    return status, {"Content-Type": "text/plain", **headers}, text.encode()


def _json(status: int, doc, **headers) -> tuple:
    return status, {"Content-Type": "application/json", **headers}, json.dumps(doc).encode()


class GcpServer(MetadataServer):
    """`/computeMetadata/v1/instance/preempted`: FALSE, TRUE after `preempt()`.

    Requests without `Metadata-Flavor: Google`, or with `X-Forwarded-For`, get 403.
    `wait_for_change=true` holds the request until the value's ETag differs from
    `last_etag` (or, without one, from the ETag when the request came), or
    `timeout_sec` passes; then it answers the current value.
    """

    PATH = "/computeMetadata/v1/instance/preempted"

    def reset(self) -> None:
        with self.cond:
            self.value, self.version = "FALSE", getattr(self, "version", 0) + 1
            self.cond.notify_all()

    def preempt(self) -> None:
        with self.cond:
            self.value, self.version = "TRUE", self.version + 1
            self.cond.notify_all()

    def etag(self) -> str:
        return f"{self.version * 0x9E3779B97F4A7C15 % 2**64:016x}"

    def handle(self, method, path, query, headers, body):
        if headers.get("metadata-flavor") != "Google" or "x-forwarded-for" in headers:
            return _text(403, f"Your client does not have permission to get URL {path} from this server. "
                              f"Missing Metadata-Flavor:Google header.")
        if method != "GET":
            return _text(405, "Method not allowed")
        if path != self.PATH:
            return _text(404, "Not found")
        with self.cond:
            if query.get("wait_for_change", [""])[0].lower() == "true":
                last = query.get("last_etag", [self.etag()])[0]
                end = time.monotonic() + float(query.get("timeout_sec", ["3600"])[0])
                while self.etag() == last and not self.closing and time.monotonic() < end:
                    self.cond.wait(max(0.0, end - time.monotonic()))
            return _text(200, self.value, **{"Metadata-Flavor": "Google", "ETag": self.etag()})


class AwsServer(MetadataServer):
    """IMDSv2 with tokens required (`HttpTokens=required`).

    `PUT /latest/api/token` needs `X-aws-ec2-metadata-token-ttl-seconds` (1-21600; else
    400) and no `X-Forwarded-For` (else 403); every GET needs a live token in
    `X-aws-ec2-metadata-token` (else 401). `spot/instance-action` and
    `events/recommendations/rebalance` are 404 until `interrupt()` / `rebalance()`.
    """

    def reset(self) -> None:
        with self.cond:
            self.tokens: dict[str, float] = getattr(self, "tokens", {})
            self.action = None
            self.recommendation = None

    def interrupt(self, action: str = "terminate", in_s: float = 120.0) -> str:
        """The two-minute warning: `time` is when the action happens (whole seconds, as AWS writes it)."""
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + in_s))
        with self.cond:
            self.action = {"action": action, "time": when}
        return when

    def rebalance(self) -> None:
        with self.cond:
            self.recommendation = {"noticeTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    def handle(self, method, path, query, headers, body):
        if path == "/latest/api/token":
            if method != "PUT":
                return _text(405, "Method Not Allowed")
            if "x-forwarded-for" in headers:
                return _text(403, "Forbidden")
            try:
                ttl = int(headers["x-aws-ec2-metadata-token-ttl-seconds"])
            except (KeyError, ValueError):
                return _text(400, "Bad Request")
            if not 1 <= ttl <= 21600:
                return _text(400, "Bad Request")
            token = secrets.token_urlsafe(40)
            with self.cond:
                self.tokens[token] = time.monotonic() + ttl
            return _text(200, token, **{"X-Aws-Ec2-Metadata-Token-Ttl-Seconds": str(ttl)})
        if method != "GET":
            return _text(405, "Method Not Allowed")
        with self.cond:
            until = self.tokens.get(headers.get("x-aws-ec2-metadata-token", ""))
            if until is None or until < time.monotonic():
                return _text(401, "Unauthorized")
            doc = {"/latest/meta-data/spot/instance-action": self.action,
                   "/latest/meta-data/events/recommendations/rebalance": self.recommendation}.get(path)
        if doc is None:
            return _text(404, "Not Found")
        return _json(200, doc)


class AzureServer(MetadataServer):
    """Scheduled Events, api-version 2020-07-01, and the instance's name.

    Every request needs `Metadata: true` (else 400, as Azure answers) and an
    `api-version`. `preempt()` adds a `Preempt` event naming this VM; a POST of
    `StartRequests` with its EventId starts it (`acks` records each, with what
    `on_ack` returned at that moment).
    """

    VM = "spot-vm-1"

    def reset(self) -> None:
        with self.cond:
            self.incarnation = getattr(self, "incarnation", 0) + 1
            self.events: list[dict] = []
            self.acks: list[dict] = getattr(self, "acks", [])
            self.on_ack = getattr(self, "on_ack", None)

    def preempt(self, not_before_in_s: float = 30.0, resources: list[str] | None = None) -> dict:
        event = {"EventId": str(uuid.uuid4()).upper(), "EventStatus": "Scheduled", "EventType": "Preempt",
                 "ResourceType": "VirtualMachine", "Resources": resources or [self.VM],
                 "NotBefore": formatdate(time.time() + not_before_in_s, usegmt=True),
                 "Description": "", "EventSource": "Platform", "DurationInSeconds": -1}
        with self.cond:
            self.events.append(event)
            self.incarnation += 1
        return dict(event)  # as posted (an acknowledgement changes the server's copy)

    def handle(self, method, path, query, headers, body):
        if headers.get("metadata", "").lower() != "true":
            return _json(400, {"error": "Bad request. Required metadata header not specified"})
        if "api-version" not in query:
            return _json(400, {"error": "Bad request. api-version was not specified in the request"})
        if path == "/metadata/instance/compute/name" and method == "GET":
            return _text(200, self.VM)
        if path != "/metadata/scheduledevents":
            return _json(404, {"error": "Not found"})
        with self.cond:
            if method == "GET":
                return _json(200, {"DocumentIncarnation": self.incarnation, "Events": self.events})
            if method != "POST":
                return _json(405, {"error": "Method not allowed"})
            try:
                ids = [str(r["EventId"]) for r in json.loads(body)["StartRequests"]]
            except (ValueError, KeyError, TypeError):
                return _json(400, {"error": "Bad request. Invalid StartRequests payload"})
            for e in self.events:
                if e["EventId"] in ids:
                    e["EventStatus"], e["NotBefore"] = "Started", ""
                    self.incarnation += 1
            self.acks.append({"ids": ids, "seen": self.on_ack() if self.on_ack else None})
        return _text(200, "")
