"""Trace statistics (spotsim/trace_stats.py): hand-made traces against hand-computed values, and the
replay's rule for what a preemption is."""
import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from spotsim.errors import TraceError
from spotsim.interrupts import Weibull
from spotsim.interrupts.trace import TraceReplay
from spotsim.interrupts.trace_io import CountSeries, load_trace
from spotsim.pattern_fit import tick_cdf
from spotsim.trace_stats import Interval, intervals, poisson_ci95, summary_h, trace_stats


def ticks(tmp_path, data, gap=100, name="t.json"):
    """A tick-JSON trace file (availability convention)."""
    path = tmp_path / name
    path.write_text(json.dumps({"metadata": {"gap_seconds": gap}, "data": data}))
    return path


def stats_of(tmp_path, data, gap=100, min_nodes=1):
    return trace_stats(load_trace(ticks(tmp_path, data, gap)), min_nodes, fit=False)


def test_one_node_trace_starting_available(tmp_path):
    """1 1 0 1 1 1 0 0 1 (100 s ticks): two 1->0 preemptions; the lifetime running at t=0 and the one
    running at the end are censored; the runs of 0s after each preemption are the waits."""
    s = stats_of(tmp_path, [1, 1, 0, 1, 1, 1, 0, 0, 1])
    assert s.lifetimes == (Interval(0, 200, False), Interval(300, 600, True), Interval(800, 900, False))
    assert s.waits == (Interval(200, 300, True), Interval(600, 800, True))
    assert s.preemptions == 2
    assert s.available_s == 600 and s.availability == pytest.approx(2 / 3)
    assert s.rate_per_h == pytest.approx(2 / (600 / 3600))  # 12 per available hour
    # Garwood's exact 95% bounds for 2 events: 0.242209 and 7.224688 events, over 1/6 h.
    lo, hi = s.rate_ci95
    assert lo == pytest.approx(0.242209 * 6, rel=1e-5) and hi == pytest.approx(7.224688 * 6, rel=1e-4)
    assert s.complete_uptimes_s == [300] and s.censored_uptimes_s == [200, 100]
    assert s.complete_waits_s == [100, 200] and s.mean_wait_s == 150


def test_trace_starting_unavailable(tmp_path):
    """0 0 1 1 1 0 1 1 (60 s): the leading outage is a wait cut by the trace's start (censored); the
    first lifetime, granted inside the window, is complete."""
    s = stats_of(tmp_path, [0, 0, 1, 1, 1, 0, 1, 1], gap=60)
    assert s.waits == (Interval(0, 120, False), Interval(300, 360, True))
    assert s.lifetimes == (Interval(120, 300, True), Interval(360, 480, False))
    assert s.preemptions == 1
    assert s.available_s == 300 and s.availability == pytest.approx(300 / 480)
    assert s.rate_per_h == pytest.approx(12.0)
    assert s.complete_uptimes_s == [180] and s.complete_waits_s == [60]
    d = s.to_dict()
    assert d["wait"]["count"] == 1 and d["wait"]["censored"] == 1
    assert d["uptime"]["mean_h"] == pytest.approx(180 / 3600) and d["uptime"]["censored"] == 1


@pytest.mark.parametrize("data", [[0, 1, 1, 1], [1, 1, 1]])
def test_trace_that_never_preempts(tmp_path, data):
    """No preemption: rate 0 with its exact upper bound (-ln 0.025 = 3.689 events over the available
    hours), no complete uptime, and the fits unavailable with a reason instead of a failure."""
    s = trace_stats(load_trace(ticks(tmp_path, data, gap=60)), 1)
    available_h = 3 * 60 / 3600
    assert s.preemptions == 0 and s.rate_per_h == 0
    assert s.rate_ci95 == (0.0, pytest.approx(-math.log(0.025) / available_h))
    assert s.complete_uptimes_s == [] and s.censored_uptimes_s == [180]
    assert s.fits == () and "no complete uptime" in s.fits_note
    assert s.to_dict()["uptime"]["mean_h"] is None


def test_multi_node_trace_with_min_nodes(tmp_path):
    """4 4 3 1 2 4 0 4 (10 s). At min_nodes 2 every drop is a preemption: 4->3 leaves enough nodes,
    so the job restarts at once (a wait of 0); 3->1 waits until 2 are back. At min_nodes 4 the drop
    3->1 happens while the job is already waiting: not a preemption."""
    s = stats_of(tmp_path, [4, 4, 3, 1, 2, 4, 0, 4], gap=10, min_nodes=2)
    assert s.lifetimes == (Interval(0, 20, False), Interval(20, 30, True), Interval(40, 60, True),
                           Interval(70, 80, False))
    assert s.waits == (Interval(20, 20, True), Interval(30, 40, True), Interval(60, 70, True))
    assert s.preemptions == 3 and s.available_s == 60 and s.rate_per_h == pytest.approx(180.0)
    s4 = stats_of(tmp_path, [4, 4, 3, 1, 2, 4, 0, 4], gap=10, min_nodes=4)
    assert s4.lifetimes == (Interval(0, 20, False), Interval(50, 60, True), Interval(70, 80, False))
    assert s4.waits == (Interval(20, 50, True), Interval(60, 70, True))
    assert s4.preemptions == 2 and s4.availability == pytest.approx(0.5)


def test_never_available_is_one_clear_error(tmp_path):
    """A trace with no uptime at all (at these min_nodes) is refused, naming the fix."""
    with pytest.raises(TraceError, match="never available.*--min-nodes"):
        stats_of(tmp_path, [0, 0, 0])
    with pytest.raises(TraceError, match="never 5 live"):
        stats_of(tmp_path, [4, 3, 4], min_nodes=5)


def test_summary_closed_forms():
    """Mean, median, CV (sample sd / mean) and numpy's linear quantiles, in hours."""
    d = summary_h([3600, 7200, 10800, 14400])
    assert d["count"] == 4 and d["mean_h"] == 2.5 and d["median_h"] == 2.5
    assert d["cv"] == pytest.approx(math.sqrt(5 / 3) / 2.5)
    assert d["quantiles_h"] == {"10": pytest.approx(1.3), "25": 1.75, "50": 2.5, "75": 3.25, "90": pytest.approx(3.7)}
    assert summary_h([])["mean_h"] is None and summary_h([3600])["cv"] is None


def test_poisson_ci_covers_and_narrows():
    """The exact interval holds the estimate, and more exposure at the same rate narrows it."""
    lo, hi = poisson_ci95(10, 5.0)
    assert lo < 2.0 < hi
    lo2, hi2 = poisson_ci95(100, 50.0)
    assert lo < lo2 < 2.0 < hi2 < hi


def test_event_trace_counts_node_losses():
    """An event series (no ticks) follows the same rule: each drop of the live count is a preemption."""
    series = CountSeries((0.0, 100.0, 150.0, 400.0), (2, 1, 0, 2), 500.0, "events")
    lifetimes, waits, n = intervals(series, 1)
    assert n == 2
    assert lifetimes == [Interval(0, 100, False), Interval(100, 150, True), Interval(400, 500, False)]
    assert waits == [Interval(100, 100, True), Interval(150, 400, True)]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=30), st.integers(1, 4))
def test_window_agrees_with_the_replay(data, min_nodes):
    """Lifetimes and waits tile the window; the available time is the time with >= min_nodes live;
    the preemptions are the replay's (one pass); the complete lifetimes and waits are exactly those the
    replay meets inside the window."""
    assume(any(c >= min_nodes for c in data))
    series = CountSeries.from_ticks(data, 10.0)
    lifetimes, waits, n = intervals(series, min_nodes)
    edges = sorted(lifetimes + waits, key=lambda i: (i.start_s, i.end_s))
    assert edges[0].start_s == 0 and edges[-1].end_s == series.end_s
    assert all(a.end_s == b.start_s for a, b in zip(edges, edges[1:]))
    assert sum(i.duration_s for i in lifetimes) == 10.0 * sum(c >= min_nodes for c in data)
    replay = TraceReplay(series, min_nodes)
    assert n == replay.drops()
    if replay.cyclic_drops() == 0:
        return
    inside_up, inside_wait = [], []
    for life in replay.replay(0.0):
        if life.grant_at >= series.end_s:
            break
        if life.grant_at > 0 and life.kill_at < series.end_s:
            inside_up.append(life.kill_at - life.grant_at)
        if life.kill_at < series.end_s and life.kill_at + life.wait_s < series.end_s:
            inside_wait.append(life.wait_s)
    assert sorted(i.duration_s for i in lifetimes if i.complete) == sorted(inside_up)
    assert sorted(i.duration_s for i in waits if i.complete) == sorted(inside_wait)


def sampled_trace(lifetimes: int, tick_s: float, seed: int) -> CountSeries:
    """A 1-node tick trace sampled from a true timeline: Weibull k = 0.5 uptimes (mean 1 h) from the
    simulator's sampler alternating with waits of one tick plus an exponential (mean 30 min), starting at a
    uniform phase; each tick records whether the VM is live at its start."""
    rng = np.random.default_rng(seed)
    up = np.fromiter(itertools.islice(Weibull(1.0, 0.5).uptimes(rng), lifetimes), float, lifetimes)
    wait = tick_s + rng.exponential(1800.0, lifetimes)
    edges = rng.uniform(0.0, tick_s) + np.cumsum(np.column_stack([np.r_[0.0, wait[:-1]], up]).ravel())
    times = np.arange(int(edges[-1] // tick_s) + 1) * tick_s
    live = np.searchsorted(edges, times, side="right") % 2  # inside [grant, preemption): odd edge count
    return CountSeries.from_ticks(live, tick_s, source="sampled")


def test_tick_cdf_is_the_law_of_trace_stats_uptimes():
    """trace_stats on a tick trace sampled from 20,000 true lifetimes (195 s ticks): complete uptimes are
    whole ticks, the shortest 1 tick, and their ECDF is within 0.015 of tick_cdf at every tick (DKW:
    P(sup > 0.015) < 0.002 for the ~16,000 seen), which counts live samples and drops unseen uptimes."""
    tick = 195.0
    s = trace_stats(sampled_trace(20_000, tick, 1), fit=False)
    k = np.array(s.complete_uptimes_s) / tick
    assert np.array_equal(k, np.rint(k)) and k.min() == 1 and len(k) > 15_000
    grid = np.arange(1, k.max() + 1)
    emp = np.searchsorted(np.sort(k), grid, side="right") / len(k)
    law = tick_cdf("weibull", {"rate_per_h": 1.0, "weibull_shape": 0.5}, grid, tick)
    assert np.max(np.abs(emp - law)) < 0.015


def test_fits_of_a_tick_trace_are_tick_aware():
    """A tick trace's fits carry its tick (KS and the JSON say so); an event trace's fit in seconds."""
    s = trace_stats(sampled_trace(60, 600.0, 2))
    assert s.fits and all(f.tick_s == 600.0 for f in s.fits)
    assert all(f["ks_tick_s"] == 600.0 for f in s.to_dict()["fits"])
    events = CountSeries((0.0, 100.0, 130.0, 400.0, 470.0, 700.0), (1, 0, 1, 0, 1, 0), 800.0, "events")
    e = trace_stats(events)
    assert e.fits and all(f.tick_s is None for f in e.fits)
