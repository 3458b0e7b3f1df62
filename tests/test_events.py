"""The JSONL event schema: writing, reading back, and clear errors on bad logs."""

import pytest

from spotsim.errors import EventLogError
from spotsim.events import EVENTS, SCHEMA_VERSION, EventLog, make_record, read_events


def test_round_trip(tmp_path):
    """Records written by EventLog read back identical."""
    path = tmp_path / "e.jsonl"
    with EventLog(path, source="real") as log:
        a = log.emit("run_start", 0.0, epochs=3)
        b = log.emit("epoch_end", 12.5, epoch=1, train_s=10.0, eval_s=2.5, val_acc=0.1, loss=4.2)
    assert read_events(path) == [a, b]
    assert a["schema"] == SCHEMA_VERSION and a["source"] == "real"


def test_make_record_refuses_unknown_event_and_missing_fields():
    """Unknown events and missing required fields are refused when writing."""
    with pytest.raises(ValueError, match="unknown event"):
        make_record("explode", 0.0, "sim")
    with pytest.raises(ValueError, match="val_acc"):
        make_record("epoch_end", 0.0, "sim", epoch=1, train_s=1.0, eval_s=1.0)
    assert set(EVENTS) >= {"run_start", "resume", "epoch_end", "checkpoint", "preempt_notice", "kill", "run_end"}


@pytest.mark.parametrize("content,message", [
    ("", "empty"),
    ('{"schema": 99, "event": "run_start", "t": 0, "epochs": 1}\n', "version 99"),
    ('{"schema": 1, "event": "run_start", "t": 0, "epochs": 1}\n{"schema": 1, "eve', "truncated"),
    ('{"schema": 1, "event": "bogus", "t": 0}\n', "unknown event"),
    ('{"schema": 1, "event": "epoch_end", "t": 0, "epoch": 1}\n', "lacks field"),
    ('[1, 2]\n', "JSON object"),
])
def test_bad_logs_name_file_and_line(tmp_path, content, message):
    """Bad logs are refused with the file, the line and what is wrong."""
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(EventLogError) as exc:
        read_events(path)
    assert message in str(exc.value) and "bad.jsonl" in str(exc.value)
    if content.count("\n") >= 1 and message != "empty":
        assert f"bad.jsonl:{max(1, content.count(chr(10)) + (0 if content.endswith(chr(10)) else 1))}" in str(exc.value)
