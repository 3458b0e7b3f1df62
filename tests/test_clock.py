"""Runs driven by the plain clock (clock.py) equal the same runs driven by SimPy's event queue.

Without a policy nothing interrupts a lifetime but its own cut, so the
lifetime process needs no event queue; SimPy's would hand it the same
timeouts in the same order. Every metric must be identical, bit for bit,
for any scenario, with or without an event log.
"""
from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotsim.events import EventLog
from spotsim.model import simulate
from tests.test_model_properties import PATTERN_NAMES, STRATEGY_NAMES, scenarios


def _fields(r):
    return [(f.name, getattr(r, f.name)) for f in dataclasses.fields(r)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), strategy=st.sampled_from(STRATEGY_NAMES), pattern=st.sampled_from(PATTERN_NAMES),
       asyn=st.booleans())
def test_the_plain_clock_gives_simpys_results(data, strategy, pattern, asyn):
    s, seed = data.draw(scenarios(strategy, pattern))
    s = s.with_values({"checkpoint.async_write": asyn})
    plain, queued = simulate(s, seed), simulate(s, seed, plain_clock=False)
    assert repr(_fields(plain)) == repr(_fields(queued))
    log_plain, log_queued = EventLog(keep=True), EventLog(keep=True)
    simulate(s, seed, events=log_plain)
    simulate(s, seed, events=log_queued, plain_clock=False)
    assert log_plain.records == log_queued.records
