"""Zone policies: which zone a lifetime on Spot runs in (docs/zones.md "Zone policies").

A policy is a function of the zone market and the time of the decision
(seconds since submission) returning a zone index: a zone with capacity now,
or, when none it would take has any, the one whose capacity comes back first
(the run then waits for it and asks again). It reads the market only through
`open(i, t)`, `price(i, t)`, `wait(i, t)`, `move(i)` and `remaining_h()`
(zones/market.py), so it stays a few lines.
"""
from __future__ import annotations


def stay(m, t: float) -> int:
    """The first zone of the list, always: wait for its capacity (the single-zone model)."""
    return 0


def failover(m, t: float) -> int:
    """The first zone in list order with capacity now (SkyPilot's failover: the current zone is not
    preferred); with none, the first to come back (ties: list order)."""
    for i in range(m.n):
        if m.open(i, t):
            return i
    return min(range(m.n), key=lambda i: (m.wait(i, t), i))


def cheapest(m, t: float) -> int:
    """The lowest current Spot price among zones with capacity, where a zone that costs a move (a
    durable checkpoint in another region) is taken only when the saving over the remaining work pays
    for it: (p_stay - p_new) x remaining_h > move_usd + move_s / 3600 x p_new, p_stay the best price
    among the zones that need no move. With no such zone open, moving is the only way to run: the
    cheapest open zone. With none open, the first to come back (ties: its price then, list order)."""
    prices = {i: m.price(i, t) for i in range(m.n) if m.open(i, t)}
    if not prices:
        waits = {i: m.wait(i, t) for i in range(m.n)}
        return min(waits, key=lambda i: (waits[i], m.price(i, t + waits[i]), i))
    free = [i for i in prices if m.move(i) is None]
    if not free or len(free) == len(prices):
        return min(prices, key=lambda i: (prices[i], i))
    p_stay = min(prices[i] for i in free)
    remaining_h = m.remaining_h()
    worth = list(free)
    for i in prices:
        mv = m.move(i)
        if mv is not None and (p_stay - prices[i]) * remaining_h > mv.usd + mv.transfer_s / 3600.0 * prices[i]:
            worth.append(i)
    return min(worth, key=lambda i: (prices[i], i))


ZONE_POLICIES = {"stay": stay, "failover": failover, "cheapest": cheapest}
"""By the name policy.zones gives."""
