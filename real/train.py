"""Trainer process entry: `python -m real.train RUN_JSON --lifetime N`.

The SIGTERM handler is installed before torch is even imported, so a notice that
arrives during start-up is seen; it only records when it came and in which
phase (start-up, restore, train, eval, checkpoint). The training loop acts on
it between steps. Exit codes: real/exitcodes.py. The process leaves with
os._exit once its files are durable (see the end of this file).
"""
from __future__ import annotations

import signal
import sys
import time


class Notice:
    """The preemption notice as the trainer sees it: set by the signal handler only."""

    def __init__(self):
        self.received_at: float | None = None
        """`time.monotonic()` reading at receipt."""
        self.phase = "startup"
        self.phase_at_receipt: str | None = None

    def __bool__(self) -> bool:
        return self.received_at is not None

    def handler(self, signum, frame) -> None:
        if self.received_at is None:
            self.received_at = time.monotonic()
            self.phase_at_receipt = self.phase


def main(argv: list[str] | None = None) -> int:
    notice = Notice()
    signal.signal(signal.SIGTERM, notice.handler)
    import argparse
    import logging
    import os

    p = argparse.ArgumentParser(prog="python -m real.train")
    p.add_argument("run_json")
    p.add_argument("--lifetime", type=int, default=1)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s real.train[{os.getpid()}] %(levelname)s %(message)s")
    # the supervisor's monotonic reading at spawn (CLOCK_MONOTONIC is system-wide)
    spawn_at = float(os.environ.get("SPOTSIM_REAL_SPAWN_AT") or time.monotonic())
    from .runconfig import RunConfig
    from .trainer import Trainer

    cfg = RunConfig.load(args.run_json)
    return Trainer(cfg, args.lifetime, notice, spawn_at).run()


if __name__ == "__main__":
    try:
        code = main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    # Everything that matters is fsynced by now. Leave at once: interpreter teardown
    # with torch loaded takes seconds of the grace window, and during it Python has
    # already put SIGTERM back to its default action.
    sys.stdout.flush()
    sys.stderr.flush()
    import os

    os._exit(code)
