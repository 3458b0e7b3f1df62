"""Telling a crash loop from bad luck.

A trainer that dies without a notice (SIGKILL from outside, the OOM killer, a
cloud kill whose notice never came) is a preemption without notice: the run
restarts from the newest durable checkpoint. But a trainer that dies that way
again and again without ever making anything new durable will never finish
(it cannot fit in memory, its data is gone, ...): after `limit` such lifetimes
in a row the run stops and says why. Lifetimes the supervisor itself preempted
are the cloud's doing and neither count nor clear the streak; any lifetime that
made progress durable clears it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CrashLoop:
    limit: int
    streak: int = 0
    """Lifetimes in a row that ended without notice and without durable progress."""

    def __post_init__(self):
        if self.limit < 1:
            raise ValueError("a crash loop needs at least one lifetime")

    def lifetime_ended(self, noticed: bool, progressed: bool) -> bool:
        """Record one lifetime's end; True when the run is in a crash loop."""
        if progressed:
            self.streak = 0
        elif not noticed:
            self.streak += 1
        return self.streak >= self.limit
