"""The calibrated scenario as YAML that `load_scenario` reads, every value commented.

The job the logs came from (model, dataset, ...) goes into one comment line,
`# calibrated-job: {...}`, which `spotsim validate` reads to refuse logs of
another job; comments are invisible to `load_scenario`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .fit import Calibration

JOB_TAG = "# calibrated-job: "
SECTION_ORDER = ("job", "checkpoint", "interrupts", "vm", "capacity", "accuracy")


def _yaml_value(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, int):
        return str(v)
    return json.dumps(str(v))


def render(cal: Calibration, name: str, files: list[str], base: str | None = None) -> str:
    """The YAML text. `base`, if given, is written as `extends:` (a path relative to the output)."""
    lines = [f"# Calibrated by `spotsim calibrate` from {cal.runs} run(s) ({', '.join(cal.sources)} logs):"]
    lines += [f"#   {f}" for f in files]
    lines.append("# Each value: how many observations it came from and their spread. DEFAULT marks a value")
    lines.append("# the logs did not measure. Prices, billing and the cloud are not measured: preset/base.")
    lines.append(JOB_TAG + json.dumps(cal.identity, sort_keys=True))
    if base:
        lines.append(f"extends: {json.dumps(base)}")
    lines.append(f"name: {json.dumps(name)}")
    what = ", ".join(f"{k} {v}" for k, v in cal.identity.items())
    lines.append(f"description: {json.dumps(f'calibrated from {cal.runs} measured run(s)' + (f' ({what})' if what else ''))}")
    for sec in SECTION_ORDER:
        items = [(k.split(".")[1], f) for k, f in cal.values.items() if k.startswith(sec + ".")]
        if not items:
            continue
        lines.append(f"{sec}:")
        width = max(len(k) + 2 + len(_yaml_value(f.value)) for k, f in items)
        for k, f in items:
            head = f"  {k}: {_yaml_value(f.value)}"
            lines.append(f"{head:<{width + 3}} # {f.comment}")
    return "\n".join(lines) + "\n"


def write(cal: Calibration, out: str | os.PathLike, files: list[str], base: str | None = None) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rel = os.path.relpath(Path(base).resolve(), out.parent.resolve()) if base else None
    out.write_text(render(cal, out.stem, files, rel), encoding="utf-8")
    return out


def read_identity(path: str | os.PathLike) -> dict | None:
    """The job a calibrated scenario was fitted to (None: not a calibrated scenario)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(JOB_TAG):
            try:
                v = json.loads(line[len(JOB_TAG):])
            except ValueError:
                return None
            return v if isinstance(v, dict) else None
    return None
