"""Deadline policies, registered by name; one small module each.

A policy decides which market each lifetime runs on (policies/base.py); the
checkpoint strategy still decides when to save. `omniscient` is not a policy
the run asks: it is the cheapest schedule in hindsight (hindsight.py), computed
from the same run's Spot periods (omniscient.py).
"""
from __future__ import annotations

from .base import ONDEMAND, SPOT, WAIT, Decision, Policy, Situation
from .greedy import Greedy
from .on_demand import OnDemand
from .spot_only import SpotOnly
from .uniform_progress import UniformProgress

POLICIES = {cls.name: cls for cls in (SpotOnly, OnDemand, Greedy, UniformProgress)}


def build_policy(scenario) -> Policy:
    """A fresh policy for one run of `scenario` (policies may keep state within a run)."""
    p = scenario.policy
    if p.name == "uniform_progress":
        h = p.hysteresis_s
        if h is None:
            h = scenario.vm.startup_s + scenario.checkpoint.restore_s
        return UniformProgress(h)
    if p.name in POLICIES:
        return POLICIES[p.name]()
    raise KeyError(f"policy {p.name!r} is not run lifetime by lifetime; known: {', '.join(POLICIES)}")


__all__ = ["ONDEMAND", "POLICIES", "SPOT", "WAIT", "Decision", "Policy", "Situation", "build_policy"]
