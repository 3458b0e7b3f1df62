"""The per-lifetime fast paths of run_plain against the functions they stand for, value for value."""
from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotsim.billing import preempted_biller, preempted_lifetime_billed_s
from spotsim.config import Billing
from spotsim.notice import draw_notice, notice_drawer
from spotsim.rng import RunStreams
from tests.test_model_properties import PATTERN_NAMES, STRATEGY_NAMES, scenarios

times = st.one_of(st.floats(-10.0, 10_000.0), st.sampled_from([0.0, -0.0, 1.0, 59.0, 60.0, 60.0000001, 120.0,
                                                             3600.0, 3599.9999999]))


@settings(max_examples=2000, deadline=None)
@given(off=times, window=st.sampled_from([0.0, 0.5, 30.0, 120.0]) | st.floats(0.0, 500.0),
       minimum=st.sampled_from([0.0, 60.0, 61.5]), increment=st.sampled_from([0.0, 1.0, 60.0, 7.0, 0.1]),
       free=st.sampled_from([0.0, 3600.0, 45.0]))
def test_the_biller_bills_as_preempted_lifetime_billed_s(off, window, minimum, increment, free):
    billing = Billing(minimum_s=minimum, increment_s=increment, free_if_preempted_within_s=free)
    bill = preempted_biller(billing)
    for o, k in ((off, off + window), (off + window, off + window), (off, off)):
        want, got = preempted_lifetime_billed_s(o, k, billing), bill(o, k)
        assert repr(got) == repr(want), (o, k)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), strategy=st.sampled_from(STRATEGY_NAMES), pattern=st.sampled_from(PATTERN_NAMES))
def test_the_drawer_draws_draw_notices_notices(data, strategy, pattern):
    s, seed = data.draw(scenarios(strategy, pattern))
    a, b = RunStreams(seed), RunStreams(seed)
    draw = notice_drawer(s, b)
    grant = 0.0
    for uptime in data.draw(st.lists(st.floats(0.0, 5000.0), min_size=1, max_size=20)):
        want, got = draw_notice(s, a, grant, uptime), draw(grant, uptime)
        assert repr(got) == repr(want) and type(got) is type(want)
        grant = math.nextafter(want.kill_at + 17.25, math.inf)
