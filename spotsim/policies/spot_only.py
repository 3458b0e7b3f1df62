"""`spot_only`: Spot whenever it can be granted, waiting for it however long (reports the deadline only)."""
from __future__ import annotations

from .base import SPOT, WAIT, Decision, Policy, Situation


class SpotOnly(Policy):
    name = "spot_only"

    def decide(self, sit: Situation) -> Decision:
        if sit.spot_now or sit.on == SPOT:
            return Decision(SPOT)
        return Decision(WAIT, sit.now + sit.spot_wait_s)
