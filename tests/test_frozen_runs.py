"""The simulator's per-run metrics are those of the code frozen in tests/data/frozen_runs_v12.json.

The table (benchmarks/freeze_runs.py; its `commit` names the code that wrote it) holds 320 runs
from before per-run planning (plan.py, job.py, lifetime.py, notice.py, baseline.py) was rewritten
for speed: every strategy x every synthetic pattern at two rates, then epoch jitter, accuracy
noise off, train_then_save, unreliable notices, no emergency save, capacity waits, asynchronous
saves, warm-up and compilation, deadline policies, free saves, step times, a run stopped at the
limit, a trace replay and AWS billing, 2-3 seeds each.

Each row is simulated again with the same sets and seed. Integer and boolean metrics must be
equal; float metrics equal to rel 1e-9 / abs 1e-12 (NaN equals NaN). Bit-identity is not
required: a rewrite may add the same seconds up in another order. Anything beyond rounding - one
more preemption, a save at another time, a different random draw - fails, naming the group, sets,
seed and metric. Regenerate the table only when a change of results is intended.
"""
from __future__ import annotations

import json
import math
import numbers
from collections import defaultdict
from pathlib import Path

import pytest

from spotsim.config import PATTERN_NAMES, STRATEGY_NAMES, load_scenario
from spotsim.model import simulate

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "tests" / "data" / "frozen_runs_v12.json"
REL, ABS = 1e-9, 1e-12

DOC = json.loads(TABLE.read_text())
GROUPS: dict[str, list[dict]] = defaultdict(list)
for _row in DOC["rows"]:
    GROUPS[_row["group"]].append(_row)


def _scenario(sets: list[str]):
    """A row's scenario; a relative trace path (tests/data/...) is read from the repository root."""
    out = []
    for item in sets:
        k, _, v = item.partition("=")
        if k == "interrupts.trace" and not Path(v).is_absolute():
            item = f"{k}={ROOT / v}"
        out.append(item)
    return load_scenario(sets=out)


def _mismatch(actual, expected) -> bool:
    """Whether a metric differs from its frozen value beyond the tolerance (see the module docstring)."""
    if isinstance(expected, bool):
        return not isinstance(actual, (bool, numbers.Integral)) or bool(actual) is not expected
    if isinstance(expected, int):
        return not isinstance(actual, numbers.Integral) or isinstance(actual, bool) or actual != expected
    if not isinstance(actual, numbers.Real):
        return True
    actual = float(actual)
    if math.isnan(expected) or math.isnan(actual):
        return not (math.isnan(expected) and math.isnan(actual))
    return not math.isclose(actual, expected, rel_tol=REL, abs_tol=ABS)


def test_the_table_covers_every_strategy_and_synthetic_pattern():
    """The table is the one the rewrite is checked against: its size and its grid are as frozen."""
    assert len(DOC["rows"]) == 320
    assert DOC["commit"] and not DOC["commit"].endswith("+dirty")
    grid = {(r["sets"][0], next(s for s in r["sets"] if s.startswith("interrupts.pattern=")))
            for r in DOC["rows"] if r["group"].startswith("grid/")}
    for strategy in STRATEGY_NAMES:
        for pattern in PATTERN_NAMES:
            if pattern != "trace":
                assert (f"checkpoint.strategy={strategy}", f"interrupts.pattern={pattern}") in grid
    assert any("interrupts.pattern=trace" in r["sets"] for r in DOC["rows"])
    assert any(not r["metrics"]["finished"] for r in DOC["rows"])


def test_the_checker_tells_rounding_from_a_change():
    """Within rel 1e-9 passes; beyond it, an integer off by one, a flipped bool or NaN against a number fail."""
    assert not _mismatch(1.0 + 1e-12, 1.0)
    assert _mismatch(1.0 + 1e-8, 1.0)
    assert not _mismatch(1e-13, 0.0) and _mismatch(1e-11, 0.0)
    assert not _mismatch(math.nan, math.nan) and _mismatch(0.0, math.nan) and _mismatch(math.nan, 0.0)
    assert not _mismatch(7, 7) and _mismatch(8, 7) and _mismatch(7.0, 7)
    assert not _mismatch(True, True) and _mismatch(False, True)


@pytest.mark.parametrize("group", list(GROUPS))
def test_runs_match_the_frozen_table(group):
    failures = []
    for row in GROUPS[group]:
        result = simulate(_scenario(row["sets"]), row["seed"])
        for name, expected in row["metrics"].items():
            actual = getattr(result, name, "<missing>")
            if _mismatch(actual, expected):
                failures.append(f"seed {row['seed']} {name}: {actual!r} != frozen {expected!r}")
    assert not failures, f"{group} {GROUPS[group][0]['sets']}:\n" + "\n".join(failures)
