"""RunResult.from_totals builds the same result as the dataclass's own __init__."""
import dataclasses
from pathlib import Path

import pytest

from spotsim.config import load_scenario
from spotsim.model import simulate
from spotsim.results import RunResult

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("sets", [
    ["interrupts.rate_per_h=8"],
    ["interrupts.rate_per_h=8", "job.deadline_h=3"],
    ["interrupts.rate_per_h=0"],
])
def test_from_totals_equals_init(sets):
    """Every field is set, in field order, to what RunResult(**fields) holds: equal, the same repr;
    replace() works and the result stays frozen."""
    s = load_scenario([ROOT / "scenarios/study/base.yaml"], sets)
    for seed in range(5):
        r = simulate(s, (3, seed))
        names = [f.name for f in dataclasses.fields(RunResult)]
        assert list(vars(r)) == names
        built = RunResult(**{n: getattr(r, n) for n in names})
        assert repr(r) == repr(built)
        assert r == built  # the same objects field by field (math.nan included)
        assert dataclasses.replace(r, preemptions=r.preemptions + 1).preemptions == r.preemptions + 1
        with pytest.raises(dataclasses.FrozenInstanceError):
            r.preemptions = 0
