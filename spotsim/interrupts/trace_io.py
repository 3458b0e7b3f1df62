"""Reading real Spot traces into a piecewise-constant count of live instances.

Two formats (see ../shared/traces/README.md):
- tick JSON: {"metadata": {"gap_seconds": g}, "data": [n0, n1, ...]}, data[i] the
  number of instances available in [i g, (i+1) g). Some tools store 1-node files
  inverted (1 = preempted); convention="preempted" reads those.
- event CSV: `milliseconds,add|remove,nodeN` rows (the Parcae p3 cluster trace).
A fall in the count is the moment instances were gone (the kill); see trace.py
and docs/traces.md for how a replay places the notice before it.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import TraceError

CONVENTIONS = ("available", "preempted")


@dataclass(frozen=True)
class CountSeries:
    """Live instance count: counts[i] holds on [starts[i], starts[i+1]); the last until end_s."""

    starts: tuple[float, ...]
    counts: tuple[int, ...]
    end_s: float
    source: str
    tick_s: float | None = None
    """The tick of a tick trace (None for an event trace)."""

    @classmethod
    def from_ticks(cls, values, gap_s: float, source: str = "ticks") -> "CountSeries":
        """The series of a tick list (availability convention): values[i] live in [i gap, (i+1) gap)."""
        array = np.asarray(values, dtype=np.int64)
        if array.ndim != 1 or array.size == 0 or array.min() < 0 or not gap_s > 0:
            raise TraceError(f"{source}: ticks must be a non-empty flat list of counts >= 0 and the gap > 0")
        return _run_length(array, float(gap_s), source)


def load_trace(path: str | os.PathLike, convention: str = "available") -> CountSeries:
    """Load a tick-JSON or event-CSV trace (cached per file and modification time)."""
    p = Path(path)
    if not p.is_file():
        raise TraceError(f"trace file {p} does not exist")
    if convention not in CONVENTIONS:
        raise TraceError(f"trace convention {convention!r} is not one of {', '.join(CONVENTIONS)}")
    return _load_cached(str(p.resolve()), p.stat().st_mtime_ns, convention)


@lru_cache(maxsize=64)
def _load_cached(path: str, mtime_ns: int, convention: str) -> CountSeries:
    if path.endswith(".csv"):
        return _load_event_csv(path)
    return _load_tick_json(path, convention)


def _run_length(values: np.ndarray, gap: float, source: str) -> CountSeries:
    change = np.flatnonzero(np.diff(values)) + 1
    idx = np.concatenate(([0], change))
    return CountSeries(tuple((idx * gap).tolist()), tuple(values[idx].tolist()), len(values) * gap, source, gap)


def _load_tick_json(path: str, convention: str) -> CountSeries:
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except json.JSONDecodeError as exc:
        raise TraceError(f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}") from None
    if not isinstance(doc, dict) or "data" not in doc or "metadata" not in doc:
        raise TraceError(f"{path}: expected a tick trace {{'metadata': {{'gap_seconds': ...}}, 'data': [...]}}")
    gap = doc["metadata"].get("gap_seconds") if isinstance(doc["metadata"], dict) else None
    if not isinstance(gap, (int, float)) or gap <= 0:
        raise TraceError(f"{path}: metadata.gap_seconds must be a positive number, got {gap!r}")
    data = doc["data"]
    if not isinstance(data, list) or not data:
        raise TraceError(f"{path}: data must be a non-empty list of instance counts")
    try:
        values = np.asarray(data, dtype=np.int64)
    except (TypeError, ValueError):
        raise TraceError(f"{path}: data must hold whole numbers (instance counts)") from None
    if values.ndim != 1 or values.min() < 0:
        raise TraceError(f"{path}: data must be a flat list of counts >= 0")
    if convention == "preempted":
        if values.max() > 1:
            raise TraceError(f"{path}: the 'preempted' convention applies to 1-node traces (0/1), "
                             f"but the data holds counts up to {values.max()}")
        values = 1 - values
    return _run_length(values, float(gap), path)


def _load_event_csv(path: str) -> CountSeries:
    live: set[str] = set()
    times: list[float] = []
    counts: list[int] = []
    with open(path, newline="", encoding="utf-8") as fh:
        for lineno, row in enumerate(csv.reader(fh), start=1):
            if not row or not "".join(row).strip():
                continue
            if len(row) != 3 or row[1] not in ("add", "remove"):
                raise TraceError(f"{path}:{lineno}: expected 'milliseconds,add|remove,node', got {','.join(row)!r}")
            try:
                t = float(row[0]) / 1000.0
            except ValueError:
                raise TraceError(f"{path}:{lineno}: time {row[0]!r} is not a number of milliseconds") from None
            if times and t < times[-1]:
                raise TraceError(f"{path}:{lineno}: events must be in time order")
            (live.add if row[1] == "add" else live.discard)(row[2])
            if times and t == times[-1]:
                counts[-1] = len(live)
            else:
                times.append(t)
                counts.append(len(live))
    if not times:
        raise TraceError(f"{path}: no events")
    # Merge consecutive equal counts.
    starts, values = [times[0]], [counts[0]]
    for t, c in zip(times[1:], counts[1:]):
        if c != values[-1]:
            starts.append(t)
            values.append(c)
    offset = starts[0]
    return CountSeries(tuple(s - offset for s in starts), tuple(values), times[-1] - offset, path)
