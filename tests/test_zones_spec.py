"""Zones in a scenario: parsing, defaults from the scenario, prices on the trace clock, move costs, refusals."""
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotsim.config import load_scenario
from spotsim.errors import ScenarioError
from spotsim.zones.spec import ZonePrices, Zone, move_between, region_of, relationship, resolved_zones

from .conftest import shared_trace


def _ticks(path, data, gap=60):
    path.write_text(json.dumps({"metadata": {"gap_seconds": gap}, "data": data}))
    return path


def _scenario(tmp_path, body: str, sets=()):
    f = tmp_path / "s.yaml"
    f.write_text(body)
    return load_scenario([f], list(sets))


@pytest.fixture
def two(tmp_path):
    _ticks(tmp_path / "a.json", [1, 1, 0, 1])
    _ticks(tmp_path / "b.json", [0, 1, 1, 1])
    (tmp_path / "p.json").write_text(json.dumps({"a": [1.0, 2.0, 3.0, 4.0], "short": [1.0, 2.0]}))
    return tmp_path


@pytest.mark.parametrize("name, region", [
    ("us-east-1a", "us-east-1"), ("us-central1-a", "us-central1"), ("us-east-1a_v100_1", "us-east-1"),
    ("europe-west4-b", "europe-west4"), ("westeurope", "westeurope"), ("ap-southeast-2c", "ap-southeast-2"),
])
def test_region_from_zone_name(name, region):
    assert region_of(name) == region


def test_unset_values_come_from_the_scenario_and_follow_it(two):
    s = _scenario(two, "cloud: aws\ngpu: V100\nprices:\n  spot_per_h: 0.5\n  ondemand_per_h: 3.0\n"
                       "zones:\n  - {name: us-east-1a, trace: a.json}\n"
                       "  - {name: us-west-2b, trace: b.json, ondemand_per_h: 4.0, spot_per_h: 0.7}\n")
    a, b = resolved_zones(s)
    assert (a.spot_per_h, a.ondemand_per_h, a.region, a.cloud) == (0.5, 3.0, "us-east-1", "aws")
    assert (b.spot_per_h, b.ondemand_per_h, b.region) == (0.7, 4.0, "us-west-2")
    assert a.trace == str(two / "a.json")  # relative to the scenario file
    # The zones' traces are the interrupts; the first zone's is the single-zone trace.
    assert (s.interrupts.pattern, s.interrupts.trace, s.interrupts.rate_per_h) == ("trace", a.trace, None)
    varied = s.with_values({"prices.spot_per_h": 0.25, "policy.zones_allowed": 1})
    assert [z.spot_per_h for z in resolved_zones(varied)] == [0.25]


def test_zones_override_the_pattern_of_a_scenario_they_extend(two, tmp_path):
    (tmp_path / "base.yaml").write_text("interrupts:\n  pattern: poisson\n  rate_per_h: 2\n")
    s = _scenario(two, "extends: base.yaml\nzones:\n  - {name: a, trace: a.json}\n")
    assert s.interrupts.pattern == "trace"


def test_price_series_integral_on_the_trace_clock(two):
    s = _scenario(two, "zones:\n  - {name: a, trace: a.json, price_trace: p.json}\n")
    prices = resolved_zones(s)[0].prices
    assert prices.series == (1.0, 2.0, 3.0, 4.0) and prices.tick_s == 60
    assert prices.at(0) == 1.0 and prices.at(61) == 2.0 and prices.at(240 + 125) == 3.0  # cyclic
    # 30 s at $1/h, a whole tick at $2/h, 15 s at $3/h.
    assert prices.cost_usd(30, 105) == pytest.approx((30 * 1 + 60 * 2 + 15 * 3) / 3600)
    # One cycle and a tick, from the start of a cycle.
    assert prices.cost_usd(240, 300) == pytest.approx((60 * 10 + 60 * 1) / 3600)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 100), min_size=1, max_size=6), st.floats(1, 600),
       st.floats(0, 5000), st.floats(0, 3000), st.floats(0, 3000))
def test_price_integral_adds_up_over_adjacent_spans(series, tick, t0, a, b):
    p = ZonePrices(tick, tuple(series), 0.0)
    whole = p.cost_usd(t0, a + b)
    assert whole == pytest.approx(p.cost_usd(t0, a) + p.cost_usd(t0 + a, b), rel=1e-9, abs=1e-9)
    assert min(series) * (a + b) / 3600 - 1e-9 <= whole <= max(series) * (a + b) / 3600 + 1e-9


def test_flat_price_costs_seconds_times_price():
    assert ZonePrices(None, None, 1.8).cost_usd(123.0, 7200.0) == pytest.approx(3.6)


def _zone(name, region, cloud="aws"):
    return Zone(name=name, trace="t.json", region=region, cloud=cloud, ondemand_per_h=3.0, spot_per_h=1.0)


def test_moves_by_relationship_count_the_transfer_beyond_a_same_region_download(two):
    s = _scenario(two, "zones:\n  - {name: a, trace: a.json}\n")
    m = s.moves
    a, b, c, d = _zone("us-east-1a", "us-east-1"), _zone("us-east-1c", "us-east-1"), \
        _zone("us-west-2a", "us-west-2"), _zone("us-central1-a", "us-central1", "gcp")
    assert relationship(a, a) == "same_zone" and move_between(a, a, 10, m).usd == 0
    same = move_between(a, b, 10, m)
    assert (same.relationship, same.transfer_s, same.usd) == ("same_region", 0.0, 0.0)
    cross = move_between(a, c, 10, m)
    assert cross.relationship == "cross_region"
    assert cross.transfer_s == pytest.approx(80 / 8.20 - 80 / 9.72)  # 10 GB = 80 Gbit
    assert cross.usd == pytest.approx(10 * 0.02) and cross.gb == 10
    cloud = move_between(a, d, 10, m)
    assert cloud.relationship == "cross_cloud"
    assert cloud.transfer_s == pytest.approx(80 / 3.59 - 80 / 9.72) and cloud.usd == pytest.approx(0.9)


BAD = [
    ("zones:\n  - {name: a}\n", "zones[0].trace", "needs a `trace`"),
    ("zones: []\n", "zones", "non-empty list"),
    ("zones:\n  - {name: a, trace: a.json, price_trace: p.json, price_key: short}\n", "zones[0].price_trace",
     "aligned tick for tick"),
    ("zones:\n  - {name: a, trace: a.json, price_trace: p.json, price_key: zz}\n", "zones[0].price_trace",
     "no price series 'zz'"),
    ("zones:\n  - {name: a, trace: a.json, bandwidth: 3}\n", "zones[0].bandwidth", "unknown zone key"),
    ("zones:\n  - {name: a, trace: a.json}\n  - {name: a, trace: b.json}\n", "zones", "unique"),
    ("zones:\n  - {name: a, trace: missing.json}\n", "zones[0].trace", "does not exist"),
    ("zones:\n  - {name: a, trace: a.json, price_trace: p.json, spot_per_h: 1}\n", "zones[0].spot_per_h",
     "not both"),
    ("zones:\n  - {name: a, trace: a.json, ondemand_per_h: 0}\n", "zones[0].ondemand_per_h", "> 0"),
    ("zones:\n  - {name: a, trace: a.json}\npolicy:\n  zones_allowed: 2\n", "policy.zones_allowed", "lists 1"),
    ("zones:\n  - {name: a, trace: a.json}\npolicy:\n  zones: nearest\n", "policy.zones", "failover"),
    ("zones:\n  - {name: a, trace: a.json, cloud: ibm}\n", "zones[0].cloud", "unknown cloud"),
]


@pytest.mark.parametrize("body, key, phrase", BAD)
def test_bad_zones_are_refused_in_one_line_naming_the_key(two, body, key, phrase):
    with pytest.raises(ScenarioError) as err:
        _scenario(two, body)
    message = str(err.value)
    assert message.startswith(key) and phrase in message and "\n" not in message


@pytest.mark.parametrize("setting", ["interrupts.pattern=poisson", "interrupts.rate_per_h=2",
                                     "interrupts.trace=b.json"])
def test_interrupt_keys_set_after_the_zones_are_refused(two, setting, monkeypatch):
    monkeypatch.chdir(two)
    with pytest.raises(ScenarioError, match="each zone's own trace is its capacity"):
        _scenario(two, "zones:\n  - {name: a, trace: a.json}\n", sets=[setting])


def test_shipped_v100_zones_and_price_series_align():
    trace = shared_trace("aws-spot-traces/availability/1-node/aws-02-15-2023/us-east-1a_v100_1.json")
    prices = shared_trace("aws-v100-spot-prices/v100_spot_prices.json")
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as d:
        s = _scenario(Path(d), f"cloud: aws\ngpu: V100\nzones:\n  - {{name: us-east-1a, trace: {trace}, "
                               f"price_trace: {prices}}}\n")
    z = resolved_zones(s)[0]
    assert len(z.prices.series) == 20158 and z.prices.tick_s == 195
    assert math.isfinite(z.prices.cost_usd(0, 1e6))
