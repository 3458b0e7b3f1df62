"""The billing rule of one VM lifetime, computed once for simulator, calibration and real summaries.

Rounding (minimum, increment) lives in `costs.billed_seconds`; this adds the
per-lifetime rule that a cloud may bill nothing for a Spot VM it interrupts
early (AWS: an instance interrupted by EC2 within its first hour is not
charged, ../shared/FACTS.md "Billing").
"""
from __future__ import annotations

import math

from .costs import billed_seconds


def lifetime_billed_s(duration_s: float, billing, preempted: bool) -> float:
    """Billed seconds of one lifetime of `duration_s` (grant to off) under `billing`.

    `billing` has `minimum_s`, `increment_s` and `free_if_preempted_within_s`
    (config.Billing); `preempted` says whether the cloud ended the lifetime.
    """
    if preempted and duration_s < billing.free_if_preempted_within_s:
        return 0.0
    return billed_seconds(duration_s, billing.minimum_s, billing.increment_s)


def preempted_lifetime_billed_s(off_s: float, kill_s: float, billing) -> float:
    """Billed seconds of a preempted lifetime whose VM went off `off_s` after its grant.

    A VM that shuts itself down inside the notice window (`off_s` < `kill_s`,
    the end of the window) stops paying then (GCP bills until TERMINATED, AWS
    per second until termination; ../shared/FACTS.md "Cloud metadata notices"); unless
    letting the cloud kill it at `kill_s` costs less (AWS bills nothing for an
    instance that EC2 interrupts in its first hour), which a careful job does.
    A VM the kill powered off has `off_s` = `kill_s`.
    """
    return preempted_biller(billing)(off_s, kill_s)


def preempted_biller(billing):
    """preempted_lifetime_billed_s(off_s, kill_s, billing) as `bill(off_s, kill_s)`, with billed_seconds
    inlined and `billing` read once (a run makes one and bills every preempted lifetime with it;
    tests/test_fast_paths.py holds it to lifetime_billed_s and the rule above)."""
    minimum, increment, free_within = float(billing.minimum_s), billing.increment_s, billing.free_if_preempted_within_s
    rounds, ceil = increment > 0, math.ceil

    def bill(off_s: float, kill_s: float) -> float:
        # billed_seconds(d) is max(minimum, ceil(d / increment - 1e-9) * increment), 0 for d <= 0;
        # max(a, b) and min(a, b) are written out as the conditionals they are.
        if kill_s < free_within or kill_s <= 0:
            killed = 0.0
        else:
            d = ceil(kill_s / increment - 1e-9) * increment if rounds else kill_s
            killed = d if d > minimum else minimum
        if off_s >= kill_s:
            return killed
        if off_s <= 0:
            return killed if killed < 0.0 else 0.0
        d = ceil(off_s / increment - 1e-9) * increment if rounds else off_s
        off = d if d > minimum else minimum
        return killed if killed < off else off

    return bill
