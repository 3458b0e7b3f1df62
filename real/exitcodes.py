"""Documented exit codes of a trainer process (the supervisor acts on them)."""

DONE = 0
"""All requested epochs are trained and evaluated."""
FAILED = 1
"""An unexpected error (traceback in the lifetime's log)."""
CONFIG = 2
"""The run configuration is unusable (missing dataset, incompatible checkpoint)."""
PREEMPTED = 3
"""Stopped by SIGTERM with everything trained so far durable (emergency checkpoint
written, or nothing new since the last durable checkpoint)."""
PREEMPTED_LOST = 4
"""Stopped by SIGTERM without saving the work since the last durable checkpoint
(emergency saving off, or the emergency save failed)."""
CHECKPOINT_FAILED = 5
"""A periodic checkpoint could not be written (e.g. disk full); the previous one is kept."""

MEANING = {
    DONE: "done", FAILED: "failed", CONFIG: "bad configuration", PREEMPTED: "preempted, state durable",
    PREEMPTED_LOST: "preempted, unsaved work lost", CHECKPOINT_FAILED: "checkpoint write failed",
}


def describe(code: int | None) -> str:
    """A short reason for an exit status (negative: killed by that signal)."""
    if code is None:
        return "running"
    if code < 0:
        import signal
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return MEANING.get(code, f"exit status {code}")
