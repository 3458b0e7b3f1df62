"""`on_demand`: one on-demand VM from submission to the end (the baseline, as a policy)."""
from __future__ import annotations

from .base import ONDEMAND, Decision, Policy, Situation


class OnDemand(Policy):
    name = "on_demand"

    def decide(self, sit: Situation) -> Decision:
        return Decision(ONDEMAND)
