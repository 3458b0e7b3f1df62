"""Event logs named by URL: `spotsim calibrate` and `validate` read them where `real run
--ckpt-dir` copied them (gs://, s3://, az:// through fsspec, the `cloud` extra).

A URL names one log (`.../events.jsonl`), a run folder holding one, or a folder of
run folders (every `*/events.jsonl` in it, in name order: the layout of a bucket
that several `real run --ckpt-dir URL/NAME` wrote). Each log is downloaded to a
temporary file and read as a local one would be; the runs and any error keep the
URL, so labels and messages name what the user gave.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from spotsim.errors import SpotsimError

from .runs import CalibrationError, Run, read_runs


def is_url(text: str) -> bool:
    from real.storage import is_remote

    return is_remote(str(text))


def _log_keys(url: str) -> tuple[object, list[str]]:
    from real.storage import filesystem

    fs, root = filesystem(url)
    fs.invalidate_cache()
    if fs.isfile(root):
        return fs, [root]
    if fs.isfile(f"{root}/events.jsonl"):
        return fs, [f"{root}/events.jsonl"]
    return fs, sorted(fs.glob(f"{root}/*/events.jsonl"))


def read_url(url: str) -> list[Run]:
    """The runs of the log(s) at `url`; raises SpotsimError (one line) when there is none or one is bad."""
    from real.storage import StorageError, one_line, scheme

    url = url.rstrip("/")
    try:
        fs, keys = _log_keys(url)
    except StorageError as exc:
        raise CalibrationError(str(exc)) from None
    except Exception as exc:  # the store's own errors: no such bucket, no permission, unreachable
        raise CalibrationError(f"{url}: cannot read it: {one_line(exc)}") from None
    if not keys:
        raise CalibrationError(f"{url}: no event log there (no events.jsonl in it or in its folders)")
    prefix = f"{scheme(url)}://"
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="spotsim-logs-") as tmp:
        for i, key in enumerate(keys):
            name = prefix + key
            local = Path(tmp) / str(i) / "events.jsonl"
            local.parent.mkdir()
            try:
                local.write_bytes(fs.cat_file(key))
            except Exception as exc:
                raise CalibrationError(f"{name}: cannot read the event log ({one_line(exc)})") from None
            try:
                found = read_runs(local)
            except SpotsimError as exc:
                raise type(exc)(str(exc).replace(str(local), name)) from None
            for run in found:
                run.path = name
            runs += found
    return runs
