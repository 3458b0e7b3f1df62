"""Plain HTTP to a cloud metadata server.

No proxy (the server is link-local to the VM; an `http_proxy` set for downloads
must not catch it), a short connect timeout (an address nobody answers on is
reported within seconds) and a separate read timeout (a long-poll, or Azure's
first request, may take long to answer on purpose).
"""
from __future__ import annotations

import http.client
import socket
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

CONNECT_S = 3.0
"""Seconds to open the TCP connection: a metadata server on the VM answers in milliseconds."""


class NoticeError(Exception):
    """The metadata server could not be asked, or refused what it was asked."""


class Unreachable(NoticeError):
    """No connection, or no answer in time."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    prefix: str
    url: str


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: dict
    """Header names in lower case."""
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", "replace").strip()


def endpoint(url: str) -> Endpoint:
    """`http://host[:port][/prefix]` -> Endpoint; ValueError for anything else."""
    u = urlsplit(url.strip())
    if u.scheme != "http" or not u.hostname or u.query or u.fragment:
        raise ValueError(f"{url!r} is not an http://host[:port] address (metadata servers speak plain HTTP)")
    try:
        port = u.port or 80
    except ValueError:
        raise ValueError(f"{url!r}: the port is not a number from 1 to 65535") from None
    return Endpoint(u.hostname, port, u.path.rstrip("/"), url.strip().rstrip("/"))


def request(ep: Endpoint, method: str, path: str, headers: dict | None = None, body: bytes | None = None,
            read_s: float = 5.0, connect_s: float = CONNECT_S) -> Response:
    """One request on a fresh connection; Unreachable on any failure below HTTP."""
    host = _resolve(ep, connect_s)
    conn = http.client.HTTPConnection(host, ep.port, timeout=connect_s)
    try:
        conn.connect()
        conn.sock.settimeout(read_s)
        conn.request(method, ep.prefix + path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.reason, {k.lower(): v for k, v in r.getheaders()}, data)
    except TimeoutError:
        raise Unreachable(f"no answer from {ep.url} within {connect_s if conn.sock is None else read_s:g} s") from None
    except (OSError, http.client.HTTPException) as exc:
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise Unreachable(f"{ep.url}: {why}") from None
    finally:
        conn.close()


_resolved: dict[str, str] = {}


def _resolve(ep: Endpoint, timeout_s: float) -> str:
    """The host's address, looked up once, within `timeout_s` (a name lookup has no timeout of its own,
    and off GCP `metadata.google.internal` may leave a resolver waiting)."""
    if ep.host in _resolved:
        return _resolved[ep.host]
    got: list = []

    def look():
        try:
            got.append(socket.getaddrinfo(ep.host, ep.port, type=socket.SOCK_STREAM)[0][4][0])
        except OSError as exc:
            got.append(exc)

    t = threading.Thread(target=look, daemon=True)
    t.start()
    t.join(timeout_s)
    if not got:
        raise Unreachable(f"{ep.host}: no address for the name within {timeout_s:g} s")
    if isinstance(got[0], OSError):
        raise Unreachable(f"{ep.host}: {got[0].strerror or got[0]}")
    _resolved[ep.host] = got[0]
    return got[0]
