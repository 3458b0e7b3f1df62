"""Work lost at preemptions, read from an event log: counted once, for calibration
(`runs.measure`) and for real mode's summaries (`real summary`).

Lost work at one preemption is the position the notice found the job at (after
the step in flight, in epochs) minus the position the next lifetime that
resumed started from, never negative. A notice that found the job starting up
or restoring lost nothing that lifetime had trained; a notice with no position,
or no later resume, says nothing about lost work.
"""
from __future__ import annotations

NOTHING_TRAINED = ("startup", "restore")
"""Notice phases in which the lifetime had trained nothing yet."""


def lost_epochs(notice: dict, next_resume: dict | None) -> float | None:
    """Epochs lost at the preemption whose received notice is `notice`, or None where the log
    does not say (nothing trained in that lifetime, no position, no later resume)."""
    if notice.get("phase") in NOTHING_TRAINED or notice.get("position") is None or next_resume is None:
        return None
    return max(0.0, float(notice["position"]) - float(next_resume["from_epoch"]))


def lost_epochs_by_lifetime(notices: dict[int, dict], resumes: dict[int, dict]) -> dict[int, float]:
    """Per lifetime whose received notice says: epochs lost at its preemption.

    `notices` maps a lifetime to its received preempt_notice, `resumes` a lifetime to its
    resume event; the resume that counts is the first one of a later lifetime.
    """
    later = sorted(resumes)
    out = {}
    for lt, notice in sorted(notices.items()):
        nxt = next((resumes[n] for n in later if n > lt), None)
        lost = lost_epochs(notice, nxt)
        if lost is not None:
            out[lt] = lost
    return out
