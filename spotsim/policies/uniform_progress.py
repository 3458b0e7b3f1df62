"""`uniform_progress`: keep progress on or above the straight line to the deadline.

Can't Be Late's Uniform Progress (../shared/FACTS.md "Deadlines"): progress
(on-demand seconds of the job done, counting only what a preemption would
keep) is held at or above total x t / deadline. Behind the line the job runs
on-demand even if Spot is there; ahead of it, it runs on Spot when Spot is
there and idles otherwise. Hysteresis, so it does not flap: it moves to
on-demand once `policy.hysteresis_s` (default one changeover: start-up +
restore) behind the line, and back to Spot once that far ahead of it. On Spot, progress grows faster than the
line, so only the deadline's safety net (greedy's) stops a Spot lifetime;
when the safety net fires the job stays on on-demand for good.
"""
from __future__ import annotations

import math

from .base import EPS_S, MIN_REVIEW_S, ONDEMAND, SPOT, WAIT, Decision, Policy, Situation


class UniformProgress(Policy):
    name = "uniform_progress"

    def __init__(self, hysteresis_s: float):
        self.hysteresis_s = hysteresis_s
        self.for_good = False

    def line(self, sit: Situation, t: float) -> float:
        return sit.total_s * t / sit.deadline

    def decide(self, sit: Situation) -> Decision:
        if self.for_good:
            return Decision(ONDEMAND)
        now = sit.now
        if now >= sit.latest_ondemand_start() - EPS_S:
            self.for_good = True
            return Decision(ONDEMAND)
        progress = sit.progress_s()
        if sit.on == SPOT:
            until = sit.spot_safe_until()
            if until - now < MIN_REVIEW_S:
                self.for_good = True
                return Decision(ONDEMAND)
            return Decision(SPOT, until)
        if sit.on == ONDEMAND:
            ahead = progress - self.line(sit, now) >= self.hysteresis_s
            if ahead and sit.spot_now and self._spot_safe_after_leaving(sit):
                return Decision(SPOT)
            return Decision(ONDEMAND, self._review_on_ondemand(sit, progress))
        if progress < self.line(sit, now) - self.hysteresis_s - EPS_S:
            return Decision(ONDEMAND, self._review_on_ondemand(sit, progress))
        if sit.spot_now:
            until = sit.spot_safe_until()
            if sit.spot_worth_starting(until):
                return Decision(SPOT, until)
            self.for_good = True
            return Decision(ONDEMAND)
        # The moment the line passes progress + hysteresis (by more than EPS_S, as the test above needs).
        behind_at = ((progress + self.hysteresis_s + 2 * EPS_S) * sit.deadline / sit.total_s
                     if sit.total_s > 0 else math.inf)
        return Decision(WAIT, max(now, min(sit.latest_ondemand_start(), behind_at, now + sit.spot_wait_s)))

    def _spot_safe_after_leaving(self, sit: Situation) -> bool:
        """Moving to Spot now (a save, then a new VM) still leaves a preemption time to finish, and
        the Spot VM may stay long enough to pay for itself (Situation.spot_worth)."""
        window = sit.step_s if sit.assume_no_loss else max(sit.notice_s, sit.step_s)
        finish = sit.now + sit.finish_after_stop_s() + window + sit.restart_held_s
        slack = sit.deadline - sit.margin_s - finish
        return slack >= MIN_REVIEW_S and sit.spot_worth(slack + sit.restart_held_s, sit.remaining_held_s)

    def _review_on_ondemand(self, sit: Situation, progress: float) -> float:
        """When progress, growing at one second a second on on-demand, is `hysteresis_s` ahead of the
        line, or when Spot can next be granted, whichever is later."""
        slope = sit.total_s / sit.deadline
        if slope >= 1.0:
            return math.inf
        cross = (self.hysteresis_s - progress + sit.now) / (1.0 - slope)
        cross = max(cross, sit.now + MIN_REVIEW_S)
        return max(cross, sit.now + sit.spot_wait_s)
