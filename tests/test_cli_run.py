"""`spotsim run` through the CLI: summary, JSON, replications, seeds and event logs."""
import json

from click.testing import CliRunner

from spotsim.cli import main
from spotsim.events import read_events
from spotsim.results import METRICS

from .conftest import ROOT

DEFAULT = str(ROOT / "scenarios/default.yaml")


def invoke(*args):
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    return result


def test_json_has_every_metric():
    """--json prints one object with every documented metric."""
    r = invoke("run", DEFAULT, "--json", "--seed", "4")
    assert r.exit_code == 0
    out = json.loads(r.output)
    for k in ("makespan_h", "billed_h", "cost_usd", "ondemand_cost_usd", "savings_pct", "preemptions",
              "checkpoints", "emergency_ok", "emergency_failed", "checkpoint_h", "lost_h", "restart_h",
              "wait_h", "epochs_done", "final_accuracy"):
        assert k in out
    assert out["epochs_done"] == 100


def test_replications_give_mean_and_ci():
    """With --replications N > 1 every metric is {mean, ci95: [lo, hi], p5, p50, p95} with lo <= mean <= hi
    and p5 <= p50 <= p95; the deadline metrics are null without a deadline."""
    out = json.loads(invoke("run", DEFAULT, "--json", "-n", "30").output)
    for k in METRICS:
        if k in ("met_deadline", "deadline_slack_h"):
            assert out[k] is None
            continue
        lo, hi = out[k]["ci95"]
        assert lo <= out[k]["mean"] <= hi
        assert out[k]["p5"] <= out[k]["p50"] <= out[k]["p95"]
    assert out["cost_usd"]["ci95"][0] < out["cost_usd"]["ci95"][1]
    assert out["replications"] == 30


def test_same_seed_same_result_other_seed_differs():
    """The same seed reproduces the run exactly; another seed gives another run."""
    a = invoke("run", DEFAULT, "--json", "--seed", "9").output
    b = invoke("run", DEFAULT, "--json", "--seed", "9").output
    c = invoke("run", DEFAULT, "--json", "--seed", "10").output
    assert a == b and a != c


def test_readable_summary():
    """Without --json the summary names the scenario and shows savings."""
    r = invoke("run", DEFAULT, "-n", "5")
    assert r.exit_code == 0
    assert "scenario default" in r.output and "savings vs on-demand" in r.output and "[" in r.output


def test_events_file_follows_schema(tmp_path):
    """--events writes a schema-valid JSONL log that starts and ends the run."""
    path = tmp_path / "ev.jsonl"
    r = invoke("run", DEFAULT, "--events", str(path), "--set", "interrupts.rate_per_h=8", "--json")
    assert r.exit_code == 0
    records = read_events(path)
    assert records[0]["event"] == "run_start" and records[-1]["event"] == "run_end"
    out = json.loads(r.output)
    assert sum(1 for e in records if e["event"] == "preempt_notice" and e["direction"] == "sent") == out["preemptions"]
    assert sum(1 for e in records if e["event"] == "epoch_end") >= 100
    ts = [e["t"] for e in records]
    assert ts == sorted(ts)


def test_missing_scenario_file_is_one_line():
    """A scenario path that does not exist is one clear line."""
    r = invoke("run", "nope.yaml")
    assert r.exit_code != 0 and "nope.yaml" in r.output


def test_unwritable_events_path(tmp_path):
    """An events path in a read-only place gives one clear line."""
    target = tmp_path / "ro"
    target.mkdir()
    target.chmod(0o500)
    try:
        r = invoke("run", DEFAULT, "--events", str(target / "sub" / "ev.jsonl"))
        import os
        if os.geteuid() == 0:  # root ignores permissions: use a file where a folder is needed instead
            (tmp_path / "file").write_text("x")
            r = invoke("run", DEFAULT, "--events", str(tmp_path / "file" / "ev.jsonl"))
        assert r.exit_code == 1 and "--events" in r.output
    finally:
        target.chmod(0o700)


def test_an_epoch_count_beyond_memory_is_refused_in_one_line():
    """job.epochs far past any real job (it would fill memory) is refused up front, saying why."""
    r = invoke("run", DEFAULT, "--set", "job.epochs=100000000")
    assert r.exit_code != 0 and len(r.output.strip().splitlines()) == 1
    assert "job.epochs" in r.output and "memory" in r.output


def test_a_job_too_long_to_ever_end_is_refused_in_one_line():
    """An epoch of 1e9 s would need billions of VM lifetimes: refused up front, naming the keys to change."""
    r = invoke("run", DEFAULT, "--set", "job.epoch_s=1e9")
    assert r.exit_code != 0 and len(r.output.strip().splitlines()) == 1
    assert "job.epoch_s" in r.output and "interrupts.rate_per_h" in r.output
