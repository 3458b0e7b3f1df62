"""`greedy`: Spot while it is there and the slack allows; on-demand for good once it does not.

Can't Be Late's greedy (../shared/FACTS.md "Deadlines"), checkpoint-aware:
the slack is the time to the deadline less what finishing on on-demand from
what a preemption would keep takes (the notice window, start-up, restore and
the remaining work from the durable checkpoint, or from the held progress
when the emergency save fits for sure). Without Spot the job waits while the
slack allows and then moves to on-demand for good; on Spot it is reviewed
when the slack would run out (it shrinks as unsaved work builds up, and grows
back at each checkpoint) and leaves Spot for good then.
"""
from __future__ import annotations

from .base import EPS_S, MIN_REVIEW_S, ONDEMAND, SPOT, WAIT, Decision, Policy, Situation


class Greedy(Policy):
    name = "greedy"

    def __init__(self):
        self.for_good = False

    def decide(self, sit: Situation) -> Decision:
        if self.for_good or sit.on == ONDEMAND:
            return self._ondemand()
        now = sit.now
        if sit.on == SPOT:
            until = sit.spot_safe_until()
            if until - now < MIN_REVIEW_S or now >= sit.latest_ondemand_start() - EPS_S:
                return self._ondemand()
            return Decision(SPOT, until)
        latest = sit.latest_ondemand_start()
        if now >= latest - EPS_S:
            return self._ondemand()
        if sit.spot_now:
            until = sit.spot_safe_until()
            if sit.spot_worth_starting(until):
                return Decision(SPOT, until)
            return self._ondemand()  # the window only shrinks from here
        return Decision(WAIT, min(latest, now + sit.spot_wait_s))

    def _ondemand(self) -> Decision:
        self.for_good = True
        return Decision(ONDEMAND)
