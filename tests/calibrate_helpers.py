"""Helpers for the calibration tests: simulated event logs of a known job."""
from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from spotsim.cli import main

KNOWN = """\
name: known
job: {epochs: 24, epoch_s: 30.0, epoch_jitter: 0.1, eval_s: 3.0, step_s: 0.2}
checkpoint: {strategy: fixed, every_epochs: 3, write_s: 4.0, restore_s: 6.0, emergency: true,
             emergency_write_s: 2.0}
interrupts: {pattern: poisson, rate_per_h: 8.0}
vm: {startup_s: 50.0, notice_s: 30.0}
capacity: {wait: fixed, wait_s: 20.0}
accuracy: {a_max: 0.7, a_0: 0.05, tau_epochs: 6.0, noise_sd: 0.01}
"""
"""The job whose simulated logs are calibrated back: every value differs from the defaults."""


def invoke(*args):
    """Run `spotsim ARGS` in-process; a traceback in the output fails the test."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def simulated_logs(tmp: Path, seeds=(1, 2, 3, 4), sets=(), name="known") -> list[Path]:
    """`spotsim run --events` of the KNOWN job, one log per seed."""
    scenario = tmp / f"{name}.yaml"
    scenario.write_text(KNOWN)
    logs = []
    for seed in seeds:
        log = tmp / f"{name}-{seed}.jsonl"
        args = ["run", scenario, "--seed", seed, "--events", log]
        for s in sets:
            args += ["--set", s]
        r = invoke(*args)
        assert r.exit_code == 0, r.output
        logs.append(log)
    return logs
