"""Zones as a scenario describes them, their prices on the trace clock, and what moving between them costs.

A scenario's `zones:` list holds `Zone`s with only what the user wrote (None
for the rest); `resolved_zones(s)` fills the gaps from the scenario's own
values (prices, trace convention, cloud) so that `--vary prices.spot_per_h`
still reaches every zone that does not set its own. See docs/zones.md.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, fields, replace
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from ..clouds import CLOUDS
from ..errors import ScenarioError, TraceError
from ..interrupts.trace_io import CONVENTIONS, load_trace

POLICIES = ("stay", "failover", "cheapest")
RELATIONSHIPS = ("same_zone", "same_region", "cross_region", "cross_cloud")


@dataclass(frozen=True)
class ZonePrices:
    """A zone's Spot price on the trace clock: a per-tick series (cyclic, like the trace's replay) or flat."""

    tick_s: float | None
    series: tuple[float, ...] | None
    flat_per_h: float
    """The flat price; with a series, its mean (the price the early-stop limit counts in)."""

    def at(self, t_s: float) -> float:
        """$/h at trace time `t_s`."""
        if self.series is None:
            return self.flat_per_h
        return self.series[int(math.floor(t_s / self.tick_s)) % len(self.series)]

    def cost_usd(self, t0_s: float, seconds: float) -> float:
        """The price integrated over [t0, t0 + seconds) of trace time, in dollars."""
        if seconds <= 0:
            return 0.0
        if self.series is None:
            return seconds * self.flat_per_h / 3600.0
        return (self._integral(t0_s + seconds) - self._integral(t0_s)) / 3600.0

    @cached_property
    def _prefix(self) -> np.ndarray:
        """prefix[k]: $·s/h over the first k ticks of one cycle."""
        return np.concatenate(([0.0], np.cumsum(np.asarray(self.series) * self.tick_s)))

    def _integral(self, t: float) -> float:
        n, tick = len(self.series), self.tick_s
        cycles, rest = divmod(t, n * tick)
        k = min(int(rest // tick), n - 1)
        return float(cycles * self._prefix[n] + self._prefix[k] + (rest - k * tick) * self.series[k])


@dataclass(frozen=True)
class Zone:
    """One zone of a scenario's `zones:` list (None: the scenario's own value, see resolved_zones)."""

    name: str
    trace: str
    trace_convention: str | None = None
    price_trace: str | None = None
    price_key: str | None = None
    """The series' key in price_trace (default: the trace file's stem)."""
    spot_per_h: float | None = None
    ondemand_per_h: float | None = None
    region: str | None = None
    """Default: the name less its zone suffix (region_of)."""
    cloud: str | None = None

    @cached_property
    def prices(self) -> ZonePrices:
        """The Spot price: the price_trace's series, else the flat spot_per_h (resolved zones only)."""
        if self.price_trace is None:
            return ZonePrices(None, None, float(self.spot_per_h))
        series = load_price_series(self.price_trace, self.price_key or Path(self.trace).stem)
        return ZonePrices(load_trace(self.trace, self.trace_convention or "available").tick_s, series,
                          float(np.mean(series)))


@dataclass(frozen=True)
class Move:
    """What moving the checkpoint from one zone's region to another's costs."""

    relationship: str
    transfer_s: float
    """Seconds beyond a same-region restore (which checkpoint.restore_s already holds)."""
    usd: float
    gb: float


ZONE_KEYS = tuple(f.name for f in fields(Zone))


def region_of(name: str) -> str:
    """The region a zone name implies: us-east-1a -> us-east-1, us-central1-a -> us-central1,
    us-east-1a_v100_1 -> us-east-1 (a trace file's stem); a name with no zone suffix is its own region."""
    base = name.split("_")[0]
    m = re.fullmatch(r"(.*\d)[a-z]", base) or re.fullmatch(r"(.+)-[a-z]", base)
    return m.group(1) if m else base


def relationship(a: Zone, b: Zone) -> str:
    """same_zone, same_region, cross_region (one cloud) or cross_cloud, of two resolved zones."""
    if a.name == b.name:
        return "same_zone"
    if a.cloud != b.cloud:
        return "cross_cloud"
    return "same_region" if a.region == b.region else "cross_region"


def move_between(a: Zone, b: Zone, size_gb: float, moves) -> Move:
    """Moving a checkpoint of `size_gb` from zone a's region to zone b's (`moves`: config.Moves).

    The transfer counts only its time beyond a same-region download, as the
    SkyNomad artifact's migration model does (docs/zones.md#sources).
    """
    rel = relationship(a, b)
    if rel in ("same_zone", "same_region"):
        return Move(rel, 0.0, size_gb * moves.same_region_per_gb if rel == "same_region" else 0.0, 0.0)
    gbps = moves.cross_region_gbps if rel == "cross_region" else moves.cross_cloud_gbps
    per_gb = moves.cross_region_per_gb if rel == "cross_region" else moves.cross_cloud_per_gb
    bits = size_gb * 8.0
    transfer = max(bits / gbps - bits / moves.same_region_gbps, 0.0)
    return Move(rel, transfer, size_gb * per_gb, size_gb)


def resolved_zones(s) -> tuple[Zone, ...]:
    """The scenario's zones with every unset value taken from the scenario (prices, convention, cloud,
    region from the name), the first `policy.zones_allowed` of them; empty without zones."""
    if not s.zones:
        return ()
    return _resolve(s.zones, s.policy.zones_allowed, s.prices.spot_per_h, s.prices.ondemand_per_h,
                    s.interrupts.trace_convention, s.cloud or "gcp")


@lru_cache(maxsize=64)
def _resolve(zones, allowed, spot, ondemand, convention, cloud) -> tuple[Zone, ...]:
    chosen = zones if allowed is None else zones[:allowed]
    return tuple(replace(z, trace_convention=z.trace_convention or convention,
                         spot_per_h=(spot if z.price_trace is None else None) if z.spot_per_h is None
                         else z.spot_per_h,
                         ondemand_per_h=ondemand if z.ondemand_per_h is None else z.ondemand_per_h,
                         region=z.region or region_of(z.name), cloud=z.cloud or cloud) for z in chosen)


def load_price_series(path: str | os.PathLike, key: str) -> tuple[float, ...]:
    """A per-tick Spot price series ($/h) from a JSON object mapping keys to lists (the
    aws-v100-spot-prices format), cached per file and modification time."""
    p = Path(path)
    if not p.is_file():
        raise TraceError(f"price trace {p} does not exist")
    table = _load_price_file(str(p.resolve()), p.stat().st_mtime_ns)
    if key not in table:
        raise TraceError(f"{p}: no price series {key!r}; it has {', '.join(sorted(table))} "
                         f"(set the zone's price_key)")
    return table[key]


@lru_cache(maxsize=16)
def _load_price_file(path: str, mtime_ns: int) -> dict[str, tuple[float, ...]]:
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except json.JSONDecodeError as exc:
        raise TraceError(f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}") from None
    if not isinstance(doc, dict) or not doc:
        raise TraceError(f"{path}: expected a JSON object mapping each zone to its list of prices in $/h")
    out = {}
    for key, values in doc.items():
        try:
            series = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            raise TraceError(f"{path}: series {key!r} must be a list of prices in $/h") from None
        if series.ndim != 1 or series.size == 0 or not np.all(np.isfinite(series)) or series.min() < 0:
            raise TraceError(f"{path}: series {key!r} must be a non-empty list of prices >= 0 in $/h")
        out[key] = tuple(series.tolist())
    return out


# -- checking a scenario's zones ---------------------------------------------------------
def parse_zones(value, source: str | None) -> tuple[Zone, ...]:
    """A scenario layer's `zones:` value as Zones (structure and types only; check_zones does the rest)."""
    if value is None or value == ():  # `zones: null` (a later layer dropping them), or none (to_dict)
        return ()
    if isinstance(value, tuple) and all(isinstance(z, Zone) for z in value):
        return value
    if not isinstance(value, (list, tuple)) or not value:
        raise ScenarioError("zones", value, "must be a non-empty list of zones, each a mapping with at least "
                            "`name` and `trace`", source)
    out = []
    for i, item in enumerate(value):
        where = f"zones[{i}]"
        if not isinstance(item, dict):
            raise ScenarioError(where, item, "must be a mapping with at least `name` and `trace`", source)
        unknown = [k for k in item if k not in ZONE_KEYS]
        if unknown:
            raise ScenarioError(f"{where}.{unknown[0]}", item[unknown[0]],
                                f"unknown zone key; known: {', '.join(ZONE_KEYS)}", source)
        for k in ("name", "trace"):
            if not isinstance(item.get(k), str) or not item.get(k):
                raise ScenarioError(f"{where}.{k}", item.get(k), f"every zone needs a `{k}` (a non-empty string)"
                                    + (": the path of its availability trace" if k == "trace" else ""), source)
        for k in ("price_trace", "price_key", "region", "cloud", "trace_convention"):
            if item.get(k) is not None and (not isinstance(item[k], str) or not item[k]):
                raise ScenarioError(f"{where}.{k}", item[k], "must be a non-empty string", source)
        if item.get("cloud") is not None and item["cloud"] not in CLOUDS:
            raise ScenarioError(f"{where}.cloud", item["cloud"], f"unknown cloud: moves are priced by the "
                                f"relationship of two zones' clouds and regions; one of {', '.join(CLOUDS)}", source)
        if item.get("trace_convention") not in (None,) + CONVENTIONS:
            raise ScenarioError(f"{where}.trace_convention", item["trace_convention"],
                                f"must be one of {', '.join(CONVENTIONS)}", source)
        prices = {}
        for k in ("spot_per_h", "ondemand_per_h"):
            v = item.get(k)
            if v is not None:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 \
                        or (k == "ondemand_per_h" and v == 0):
                    raise ScenarioError(f"{where}.{k}", v, "must be a price in $/h "
                                        + ("> 0" if k == "ondemand_per_h" else ">= 0"), source)
                prices[k] = float(v)
        if item.get("price_trace") is not None and "spot_per_h" in prices:
            raise ScenarioError(f"{where}.spot_per_h", prices["spot_per_h"],
                                "a zone has a price_trace or a flat spot_per_h, not both", source)
        out.append(Zone(**{**item, **prices}))
    return tuple(out)


def check_zones(s, source_of) -> None:
    """Refuse zones that cannot be replayed together, one line each (`source_of(key)`: where a key was set)."""
    src = source_of("zones")
    names = [z.name for z in s.zones]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise ScenarioError("zones", dup, "zone names must be unique", src)
    if s.policy.zones_allowed is not None and s.policy.zones_allowed > len(s.zones):
        raise ScenarioError("policy.zones_allowed", s.policy.zones_allowed,
                            f"the scenario lists {len(s.zones)} zones", source_of("policy.zones_allowed"))
    for i, z in enumerate(resolved_zones(s)):
        try:
            series = load_trace(z.trace, z.trace_convention)
        except TraceError as exc:
            raise ScenarioError(f"zones[{i}].trace", z.trace, str(exc), src) from None
        if z.price_trace is None:
            continue
        if series.tick_s is None:
            raise ScenarioError(f"zones[{i}].price_trace", z.price_trace,
                                "a price series needs a tick trace (this zone's trace is an event CSV); "
                                "give a flat spot_per_h", src)
        try:
            prices = load_price_series(z.price_trace, z.price_key or Path(z.trace).stem)
        except TraceError as exc:
            raise ScenarioError(f"zones[{i}].price_trace", z.price_trace, str(exc), src) from None
        n = round(series.end_s / series.tick_s)
        if len(prices) != n:
            raise ScenarioError(f"zones[{i}].price_trace", z.price_trace,
                                f"its series has {len(prices)} prices but the zone's trace has {n} ticks: "
                                f"a price series must be aligned tick for tick with its trace", src)
