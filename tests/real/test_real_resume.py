"""Resume is exact: SIGTERM twice, resume twice, same weights as never interrupted.

Speed-independent: each trainer is held at a fixed step by the `pause_after_steps`
hook until its SIGTERM, so the positions do not depend on how fast steps run.
"""
from __future__ import annotations

import pytest
from real_helpers import Trainer, assert_same_weights, events, final_weights, of, small_config

pytestmark = pytest.mark.real


def interrupted_run(out, checkpoint: dict, steps: list[int]) -> list[dict]:
    """Run to the end, lifetime i training steps[i] steps and then getting its SIGTERM."""
    cfg = small_config(out, checkpoint=checkpoint)
    for lifetime, n in enumerate(steps, start=1):
        t = Trainer(cfg, lifetime, faults=f"pause_after_steps={n}")
        t.wait_log("paused after")
        t.signal()
        assert t.wait() == 3, t.text()
    t = Trainer(cfg, len(steps) + 1)
    assert t.wait() == 0, t.text()
    return events(out)


@pytest.mark.parametrize("checkpoint", [dict(strategy="fixed", every_epochs=1, emergency=True),
                                        dict(strategy="none", emergency=True)], ids=["fixed", "none"])
def test_twice_interrupted_run_ends_bit_identical(reference, tmp_path, checkpoint):
    """Two SIGTERMs inside epochs (after 3 steps, then 9 more), two resumes: final weights equal an
    uninterrupted run's, bit for bit."""
    evts = interrupted_run(tmp_path / "run", checkpoint, steps=[3, 9])
    positions = [e["epoch"] for e in of(evts, "checkpoint", kind="emergency", ok=True)]
    assert positions == [0.375, 1.5]  # 3 of 8 steps; then 5 + 4 steps further
    assert [e["from_epoch"] for e in of(evts, "resume")] == [0.0, *positions]
    assert [e["epoch"] for e in of(evts, "epoch_end")] == [1, 2]
    assert_same_weights(reference, final_weights(tmp_path / "run"))
