"""The per-lifetime notice drawer and biller against the rules they implement, value for value."""
from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotsim.billing import lifetime_billed_s, preempted_biller, preempted_lifetime_billed_s
from spotsim.config import Billing
from spotsim.notice import Notice, draw_notice, notice_drawer
from spotsim.rng import RunStreams
from tests.test_model_properties import PATTERN_NAMES, STRATEGY_NAMES, scenarios

times = st.one_of(st.floats(-10.0, 10_000.0), st.sampled_from([0.0, -0.0, 1.0, 59.0, 60.0, 60.0000001, 120.0,
                                                             3600.0, 3599.9999999]))


@settings(max_examples=2000, deadline=None)
@given(off=times, window=st.sampled_from([0.0, 0.5, 30.0, 120.0]) | st.floats(0.0, 500.0),
       minimum=st.sampled_from([0.0, 60.0, 61.5]), increment=st.sampled_from([0.0, 1.0, 60.0, 7.0, 0.1]),
       free=st.sampled_from([0.0, 3600.0, 45.0]))
def test_the_biller_bills_as_the_lifetime_rule(off, window, minimum, increment, free):
    """A VM the kill powered off pays the preempted lifetime (free within the first hour where the cloud
    says so); one that went off earlier pays the shorter of that and its own billed time."""
    billing = Billing(minimum_s=minimum, increment_s=increment, free_if_preempted_within_s=free)
    bill = preempted_biller(billing)
    for o, k in ((off, off + window), (off + window, off + window), (off, off)):
        killed = lifetime_billed_s(k, billing, preempted=True)
        want = killed if o >= k else min(lifetime_billed_s(o, billing, preempted=False), killed)
        assert repr(bill(o, k)) == repr(want) == repr(preempted_lifetime_billed_s(o, k, billing)), (o, k)


def _notice_as_first_written(s, streams, grant: float, uptime_s: float) -> Notice:
    """draw_notice as first written (the reference the drawer is held to)."""
    window, step = s.vm.notice_s, s.job.step_s
    r = s.vm.notice_reliability
    delivered = r >= 1.0 or (r > 0.0 and streams.notice_delivery.random() < r)
    step_left = step * streams.notice_step.random() if step > 0 else 0.0
    at = grant + uptime_s
    kill = at + window
    if not delivered:
        return Notice(at, kill, kill, False, 0.0, uptime_s, 0.0)
    if s.checkpoint.on_notice == "train_then_save":
        if not s.checkpoint.emergency:
            return Notice(at, kill, kill, True, 0.0, uptime_s, 0.0)
        save = s.checkpoint.emergency_s
        spare = window - save - step_left
        if spare >= 0:
            steps = spare - math.fmod(spare, step) if step > 0 else spare
            return Notice(at, kill, at + step_left + steps, True, 0.0, uptime_s, save + (spare - steps), True)
    return Notice(at, kill, at, True, step_left, uptime_s, window)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), strategy=st.sampled_from(STRATEGY_NAMES), pattern=st.sampled_from(PATTERN_NAMES))
def test_the_drawer_draws_the_notices_as_first_written(data, strategy, pattern):
    s, seed = data.draw(scenarios(strategy, pattern))
    a, b, c = RunStreams(seed), RunStreams(seed), RunStreams(seed)
    draw = notice_drawer(s, b)
    grant = 0.0
    for uptime in data.draw(st.lists(st.floats(0.0, 5000.0), min_size=1, max_size=20)):
        want, got = _notice_as_first_written(s, a, grant, uptime), draw(grant, uptime)
        assert repr(got) == repr(want) and type(got) is type(want)
        assert repr(draw_notice(s, c, grant, uptime)) == repr(want)
        grant = math.nextafter(want.kill_at + 17.25, math.inf)
