"""The zone side of a run's accounts: where the checkpoint lives, the moves it made, each zone's bill.

The checkpoint lives in the region of the zone that last wrote it (a durable
save in a lifetime there) or that it was last moved to (a transfer that
ended). A Spot lifetime starting in a zone that needs a move (docs/zones.md
"Moving a checkpoint": another region, or a priced move) with a durable
checkpoint moves it: egress dollars once, transfer seconds in the lifetime
after its start-up. On-demand runs where the checkpoint is (the first zone of
the list until the job has one), at that zone's on-demand price. Spot
lifetimes are billed the integral of their zone's price over the billed
seconds from the grant, on the trace clock (submission offset + run time).
"""
from __future__ import annotations

from functools import lru_cache

from .spec import move_between

NEEDS_MOVE = ("cross_region", "cross_cloud")
"""Relationships across which the checkpoint must be moved (it lives in a regional bucket)."""


@lru_cache(maxsize=64)
def move_table(zones, size_gb: float, moves) -> tuple:
    """table[a][b]: the Move taking the checkpoint from zone a's region to zone b's, None where none
    is needed (same zone, or same region at no cost)."""
    out = []
    for a in zones:
        row = []
        for b in zones:
            mv = move_between(a, b, size_gb, moves)
            row.append(mv if mv.relationship in NEEDS_MOVE or mv.usd > 0 else None)
        out.append(tuple(row))
    return tuple(out)


class ZoneLedger:
    """One run's zone accounts (Totals.zones), kept by the lifetime process (lifetime.py)."""

    def __init__(self, zones, table, offset_s: float, job):
        self.zones = zones
        self.table = table
        self.offset_s = offset_s
        """Trace time at the submission: every zone's price is read at offset_s + run time."""
        self.job = job
        self.checkpoint = 0
        """The zone whose region holds the checkpoint (the first zone until the job has one)."""
        self.zone = 0
        """The zone of the lifetime running, or of the last one."""
        self.move = None
        """The Move the lifetime running made (None: none)."""
        self._arriving: int | None = None
        self._durable_at_start = None
        n = len(zones)
        self.spot_s = [0.0] * n
        """Billed Spot seconds per zone."""
        self.ondemand_s = [0.0] * n
        self.series_usd = 0.0
        """Spot dollars of the zones priced by a series (the flat ones are billed from spot_s)."""
        self.moves = 0
        self.transfer_gb = 0.0
        self.transfer_usd = 0.0

    @property
    def home_ondemand_per_h(self) -> float:
        """The on-demand price of the first zone: the all-on-demand baseline's."""
        return self.zones[0].ondemand_per_h

    def move_to(self, zone: int):
        """The move a Spot lifetime starting in `zone` now would make (None: none)."""
        if self.job.durable is None:
            return None
        return self.table[self.checkpoint][zone]

    def begin(self, zone: int | None) -> float:
        """A lifetime starts, on Spot in `zone` or on-demand (None) where the checkpoint is. Returns the
        seconds its transfer takes after the start-up (0: no move); the egress is counted now."""
        self._durable_at_start = self.job.durable
        if zone is None:
            self.zone, self.move = self.checkpoint, None
            return 0.0
        self.zone = zone
        mv = self.move = self.move_to(zone)
        if mv is None:
            return 0.0
        self.moves += 1
        self.transfer_gb += mv.gb
        self.transfer_usd += mv.usd
        if mv.transfer_s > 0:
            self._arriving = zone
            return mv.transfer_s
        self.checkpoint = zone
        return 0.0

    def arrived(self) -> None:
        """The transfer ended: the checkpoint lives in the new zone's region (a cut before leaves it
        where it was, and the next lifetime there moves it again)."""
        if self._arriving is not None:
            self.checkpoint = self._arriving
            self._arriving = None

    def close(self, billed_s: float, on_spot: bool, grant: float) -> None:
        """The lifetime granted at `grant` ended, billed `billed_s`: bill it at its zone's price; a
        durable save made in it puts the checkpoint in its zone."""
        self._arriving = None
        z = self.zone
        if on_spot:
            self.spot_s[z] += billed_s
            prices = self.zones[z].prices
            if prices.series is not None:
                self.series_usd += prices.cost_usd(self.offset_s + grant, billed_s)
        else:
            self.ondemand_s[z] += billed_s
        if self.job.durable is not self._durable_at_start:
            self.checkpoint = z

    def cost_usd(self) -> float:
        """Spot at each zone's price, on-demand at each zone's, and egress."""
        flat = 0.0
        ondemand = 0.0
        for z, spot_s, od_s in zip(self.zones, self.spot_s, self.ondemand_s):
            if z.prices.series is None:
                flat += spot_s * z.prices.flat_per_h
            ondemand += od_s * z.ondemand_per_h
        return (flat + ondemand) / 3600.0 + self.series_usd + self.transfer_usd

    def zone_h(self) -> tuple[tuple[str, float], ...]:
        """(name, billed Spot hours) of every zone, in list order."""
        return tuple((z.name, s / 3600.0) for z, s in zip(self.zones, self.spot_s))
