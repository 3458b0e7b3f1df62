"""AWS Spot Instance Advisor's interruption-frequency buckets as preemption rates, and back.

The Advisor puts each instance type and region in a bucket of "frequency of
interruption", the share of instances whose capacity Spot reclaimed during the
trailing month: "<5%", "5-10%", "10-15%", "15-20%" or ">20%". A bucket is a
range of monthly probabilities p; the simulator needs a rate per hour of VM
uptime. Assumption (docs/advisor.md): a constant hazard (Poisson preemptions)
over a horizon of H hours of uptime, by default the 730 h month, so
p = 1 - exp(-rate H) and rate = -ln(1 - p) / H. Instances that ran less than
the horizon would need a higher rate to reach the same p, so the 730 h reading
is the lowest rate consistent with a bucket.

Ranges are half-open, [low, high): a probability on a boundary belongs to the
higher bucket, and a bucket's `high` point is the next bucket's `low`. ">20%"
has no published upper end, so it has a `low` point only (an "at least" rate).
"""
from __future__ import annotations

import math

from .errors import SpotsimError

BUCKETS = ("<5%", "5-10%", "10-15%", "15-20%", ">20%")
POINTS = ("low", "mid", "high")
MONTH_H = 730.0
"""Hours in the Advisor's month (8,760 h a year / 12), the default horizon."""
RANGES: dict[str, tuple[float, float | None]] = {
    "<5%": (0.0, 0.05), "5-10%": (0.05, 0.10), "10-15%": (0.10, 0.15), "15-20%": (0.15, 0.20),
    ">20%": (0.20, None)}
"""Each bucket's monthly interruption probabilities [low, high); None: no published upper end."""
_BOUNDARY_RTOL = 1e-12
"""A probability this little (relatively) below a bucket's low end still counts as in it, so that a
rate computed from a boundary converts back to the bucket it came from despite rounding."""


class AdvisorError(SpotsimError):
    """A bucket, point, horizon, probability or rate that cannot be converted."""


def probability_range(bucket: str) -> tuple[float, float | None]:
    """The bucket's monthly interruption probabilities as (low, high); high None for ">20%"."""
    if bucket not in RANGES:
        raise AdvisorError(f"unknown Spot Instance Advisor bucket {bucket!r}; choose one of {', '.join(BUCKETS)}")
    return RANGES[bucket]


def probability(bucket: str, point: str = "mid") -> float:
    """The monthly probability at one end (`low`, `high`) or the middle (`mid`) of a bucket's range."""
    lo, hi = probability_range(bucket)
    if point not in POINTS:
        raise AdvisorError(f"unknown advisor point {point!r}; choose one of {', '.join(POINTS)}")
    if point == "low":
        return lo
    if hi is None:
        raise AdvisorError(f"bucket {bucket!r} {no_upper_end(bucket, point)}")
    return hi if point == "high" else 0.5 * (lo + hi)


def no_upper_end(bucket: str, point: str, horizon_h: float = MONTH_H) -> str:
    """Why `point` of an open-ended bucket has no value, and what to give instead (after the bucket's name)."""
    return (f"has no published upper end, so it has no {point!r} point: use "
            f"advisor_point=low (an 'at least' rate, {rate_per_h(bucket, 'low', horizon_h):.3g}/h over "
            f"{horizon_h:g} h) or give interrupts.rate_per_h")


def _check_horizon(horizon_h: float) -> float:
    h = float(horizon_h)
    if not (math.isfinite(h) and h > 0):
        raise AdvisorError(f"horizon {horizon_h!r} must be a finite number of hours > 0")
    return h


def rate_of_probability(p: float, horizon_h: float = MONTH_H) -> float:
    """Preemptions per hour of uptime whose constant hazard interrupts a share `p` of instances within
    `horizon_h` hours: -ln(1 - p) / H (log1p keeps small p exact)."""
    h = _check_horizon(horizon_h)
    if not 0.0 <= p < 1.0:
        raise AdvisorError(f"probability {p!r} must be in [0, 1): p = 1 means an infinite rate")
    return -math.log1p(-p) / h


def probability_of_rate(rate_per_h: float, horizon_h: float = MONTH_H) -> float:
    """The share of instances a constant hazard of `rate_per_h` interrupts within `horizon_h` hours:
    1 - exp(-rate H) (expm1 keeps small rates exact)."""
    h = _check_horizon(horizon_h)
    if not (math.isfinite(rate_per_h) and rate_per_h >= 0):
        raise AdvisorError(f"rate {rate_per_h!r} must be a finite number of preemptions per hour >= 0")
    return -math.expm1(-rate_per_h * h)


def rate_per_h(bucket: str, point: str = "mid", horizon_h: float = MONTH_H) -> float:
    """The rate per hour of uptime a bucket stands for, at `point` of its range, over `horizon_h` hours."""
    return rate_of_probability(probability(bucket, point), horizon_h)


def bucket_of_probability(p: float) -> str:
    """The bucket whose [low, high) range holds the monthly probability `p`."""
    if not 0.0 <= p <= 1.0:
        raise AdvisorError(f"probability {p!r} must be in [0, 1]")
    for bucket in reversed(BUCKETS):
        lo = RANGES[bucket][0]
        if p >= lo * (1.0 - _BOUNDARY_RTOL):
            return bucket
    raise AssertionError("unreachable: the lowest bucket starts at 0")


def bucket_of_rate(rate_per_h: float, horizon_h: float = MONTH_H) -> str:
    """The bucket a rate per hour of uptime falls in, read over `horizon_h` hours."""
    return bucket_of_probability(probability_of_rate(rate_per_h, horizon_h))


def table(horizon_h: float = MONTH_H) -> list[dict]:
    """Every bucket x point that has a value: the monthly probability, the rate per hour and the mean
    hours of uptime between preemptions (inf at rate 0)."""
    rows = []
    for bucket in BUCKETS:
        for point in POINTS:
            if point != "low" and RANGES[bucket][1] is None:
                continue
            p = probability(bucket, point)
            r = rate_of_probability(p, horizon_h)
            rows.append({"bucket": bucket, "point": point, "probability": p, "rate_per_h": r,
                         "mean_h_between": math.inf if r == 0 else 1.0 / r})
    return rows
