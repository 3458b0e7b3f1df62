"""Resume is exact: SIGTERM twice, resume twice, same weights as never interrupted."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from real_helpers import Trainer, events, of, small_config

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """Final weights of an uninterrupted 3-epoch run."""
    out = tmp_path_factory.mktemp("ref") / "run"
    cfg = small_config(out, epochs=3, checkpoint=dict(strategy="none", emergency=True))
    t = Trainer(cfg)
    assert t.wait() == 0, t.text()
    return torch.load(Path(out) / "final.pt", weights_only=True)


def interrupted_run(out, checkpoint: dict, stops: list[str]) -> list[dict]:
    """Run to the end, sending SIGTERM once each given 'step E.S done' line is logged."""
    cfg = small_config(out, epochs=3, checkpoint=checkpoint)
    for lifetime, stop in enumerate(stops, start=1):
        t = Trainer(cfg, lifetime, faults="log_steps=1")
        t.wait_log(f"step {stop} done")
        t.signal()
        assert t.wait() == 3, t.text()
    t = Trainer(cfg, len(stops) + 1)
    assert t.wait() == 0, t.text()
    return events(out)


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"tensors differ after resume: {different[:5]}"


@pytest.mark.parametrize("checkpoint", [dict(strategy="fixed", every_epochs=1, emergency=True),
                                        dict(strategy="none", emergency=True)], ids=["fixed", "none"])
def test_twice_interrupted_run_ends_bit_identical(reference, tmp_path, checkpoint):
    """Two SIGTERMs inside epochs, two resumes: final weights equal an uninterrupted run's, bit for bit."""
    evts = interrupted_run(tmp_path / "run", checkpoint, stops=["0.3", "1.5"])
    positions = [e["epoch"] for e in of(evts, "checkpoint", kind="emergency", ok=True)]
    assert len(positions) == 2 and 0.375 <= positions[0] < 1 and 1.75 <= positions[1] < 2  # inside epochs
    assert [e["from_epoch"] for e in of(evts, "resume")] == [0.0, *positions]
    assert [e["epoch"] for e in of(evts, "epoch_end")] == [1, 2, 3]
    assert_same_weights(reference, torch.load(tmp_path / "run" / "final.pt", weights_only=True))
