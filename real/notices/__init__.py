"""Where a real run's preemption notices come from.

`signal`: the supervisor injects them (SIGTERM at uptimes drawn from `--interrupts`).
`gcp`, `aws`, `azure`: the cloud's metadata service, polled beside the trainer by
the supervisor (watcher.py), which turns a notice into the trainer's SIGTERM: the
trainer's existing notice path. What each cloud sends: FACTS.md "Cloud metadata
notices"; each module says how it is asked.
"""
from __future__ import annotations

from .aws import AwsSource
from .azure import AzureSource
from .base import CloudNotice, Source, seen
from .gcp import GcpSource
from .http import CONNECT_S, NoticeError, Unreachable
from .watcher import Watcher

CLOUDS: dict[str, type[Source]] = {"gcp": GcpSource, "aws": AwsSource, "azure": AzureSource}
SOURCES = ("signal", *CLOUDS)

__all__ = ["CLOUDS", "CONNECT_S", "SOURCES", "CloudNotice", "NoticeError", "Source", "Unreachable", "Watcher",
           "build", "probe", "seen"]


def build(name: str, url: str | None = None, poll_s: float | None = None) -> Source:
    """The source for a cloud (ValueError for a bad URL)."""
    return CLOUDS[name](url, poll_s)


def probe(source: Source) -> CloudNotice | None:
    """Ask the server once; NoticeError with a sentence for people if it cannot be asked."""
    try:
        return source.probe()
    except Unreachable as exc:
        raise NoticeError(f"cannot reach the {source.cloud} metadata server at {source.url} ({exc}); "
                          f"--notice {source.name} works on a {source.cloud} VM: elsewhere point --metadata-url "
                          f"at a server that speaks its protocol, or use --notice signal") from None
