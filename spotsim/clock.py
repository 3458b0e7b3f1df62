"""A plain clock for runs that nothing interrupts: the lifetime process without SimPy's event queue.

A Spot run without a deadline policy has one process and no event that
another could raise: each lifetime's cut is known at its grant, and the
process waits for it itself (lifetime._sleep). SimPy's queue would then only
hand the process its own timeouts back in order, so the same generator is
driven here by setting the clock to each time it yields: the same float
operations (now + delay), the same results, without an Event object, a heap
push and a callback per wait. Runs with a policy (reviews interrupt a
lifetime) keep SimPy.
"""
from __future__ import annotations


class Clock:
    """Stands in for simpy.Environment where the lifetime process uses it (`now`, `timeout`)."""

    __slots__ = ("now",)

    def __init__(self):
        self.now = 0.0

    def timeout(self, delay: float) -> float:
        """The time the wait ends (what the process yields; also the cut's wake-up, SimPy's LateTimeout)."""
        return self.now + delay


class Done:
    """Stands in for the SimPy event the process succeeds when the run ends."""

    __slots__ = ("ok",)

    def __init__(self):
        self.ok = False

    def succeed(self) -> None:
        self.ok = True


def drive(process, clock: Clock) -> None:
    """Run a process generator that yields the times it waits until, to its end."""
    send = process.send
    try:
        clock.now = next(process)
        while True:
            clock.now = send(None)
    except StopIteration:
        return
