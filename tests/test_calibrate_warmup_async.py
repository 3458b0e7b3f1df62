"""Calibration and validation of warm-up, compilation and asynchronous saves.

Hand-made real-mode logs whose values are known exactly are fitted back (the fit is a mean of
logged numbers, so it must equal the known mean up to the YAML's 4 significant digits); bad
warmup events are refused in one line; validation replays asynchronous and compiled runs with
their own setting and each lifetime's measured warm-up and compilation instead of skipping them.
"""
from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import calibrate.validate as v
from calibrate.fit import fit
from calibrate.runs import CalibrationError, read_runs
from spotsim.config import load_scenario
from spotsim.events import make_record

from .calibrate_helpers import invoke, simulated_logs
from .conftest import ROOT

REL = 1e-3
"""The YAML keeps 4 significant digits (3 for fractions): a fitted mean within 0.1% of the known one."""


def _rec(event: str, t: float, **fields) -> dict:
    return make_record(event, t, "real", **fields)


def real_log(lifetimes: list[dict], *, async_write: bool = False, steady_s: float = 4.0, eval_s: float = 0.5,
             epochs_each: int = 2, stall_s: float = 0.07, write_s: float = 1.2, compile_flag: bool | None = None,
             warmup_events: bool = True) -> list[dict]:
    """Records of one completed real-mode run.

    Each lifetime (a dict: warmup_s, compile_s, eval_compile_s, cache) starts at an epoch boundary,
    trains `epochs_each` whole epochs (the first slower by its warm-up and compile), saves after
    each, and all but the last are preempted right after a save (nothing to save at the notice).
    """
    epochs = epochs_each * len(lifetimes)
    start = {"epochs": epochs, "strategy": "fixed", "pattern": "regular", "grace_s": 30.0,
             "async_checkpoint": async_write, "emergency": True, "model": "resnet18", "dataset": "synthetic",
             "checkpoint": {"strategy": "fixed", "every_epochs": 1, "write_s": 3.0, "emergency": True}}
    if compile_flag is not None:
        start["compile"] = compile_flag
    out = [_rec("run_start", 0.0, **start)]
    t, epoch = 0.0, 0
    for i, lt in enumerate(lifetimes, start=1):
        out.append(_rec("vm_start", t, lifetime=i))
        t += 5.0
        out.append(_rec("process_start", t, lifetime=i))
        t += 1.0
        out.append(_rec("resume", t, lifetime=i, from_epoch=float(epoch), restore_s=0.3 if epoch else 0.0,
                        checkpoint=f"ckpt-{epoch:06d}.pt" if epoch else None))
        for k in range(epochs_each):
            epoch += 1
            train = steady_s + (lt["warmup_s"] + lt["compile_s"] if k == 0 else 0.0)
            ev_compile = lt.get("eval_compile_s", 0.0) if k == 0 else 0.0
            if k == 0 and warmup_events:
                out.append(_rec("warmup", t + 1.0, lifetime=i, warmup_s=lt["warmup_s"], compile_s=lt["compile_s"],
                                **({"cache": lt["cache"]} if "cache" in lt else {})))
            t += train + eval_s + ev_compile
            rec = dict(epoch=epoch, train_s=train, eval_s=eval_s + ev_compile, val_acc=0.01 * epoch, split=False,
                       lifetime=i, steps=8)
            if ev_compile:
                rec["compile_s"] = ev_compile
            out.append(_rec("epoch_end", t, **rec))
            if async_write:
                t += stall_s
                out.append(_rec("checkpoint", t + write_s, kind="periodic", ok=True, epoch=float(epoch),
                                seconds=write_s, stall_s=stall_s, async_write=True, lifetime=i))
            else:
                t += write_s
                out.append(_rec("checkpoint", t, kind="periodic", ok=True, epoch=float(epoch),
                                seconds=write_s - 0.05, stall_s=write_s, async_write=False, lifetime=i))
        if i < len(lifetimes):
            t += write_s + 0.5  # the background write is durable before the notice
            out.append(_rec("preempt_notice", t, lifetime=i, direction="sent"))
            out.append(_rec("preempt_notice", t, lifetime=i, direction="received", phase="train",
                            position=float(epoch)))
            out.append(_rec("process_exit", t + 1.0, lifetime=i, code=3))
            t += 32.0
        else:
            out.append(_rec("process_exit", t + 0.5, lifetime=i, code=0))
    out.append(_rec("run_end", t + 1.0, epochs_done=epoch, completed=True))
    return out


def write_log(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _fit(tmp_path: Path, *logs: list[dict]):
    runs = []
    for i, recs in enumerate(logs):
        runs += read_runs(write_log(tmp_path / f"run{i}.jsonl", recs))
    return fit(runs)


# -- warm-up and compilation --------------------------------------------------------------
seconds = st.floats(0.0, 30.0, allow_nan=False).map(lambda x: round(x, 3))
lifetime = st.fixed_dictionaries({"warmup_s": seconds, "compile_s": seconds, "eval_compile_s": seconds,
                                  "cache": st.sampled_from(["cold", "restored"])})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lts=st.lists(lifetime, min_size=1, max_size=5), steady=st.floats(0.5, 60.0).map(lambda x: round(x, 3)),
       eval_s=st.floats(0.0, 5.0).map(lambda x: round(x, 3)))
def test_warmup_and_compile_are_fitted_from_the_events(tmp_path, lts, steady, eval_s):
    """warmup_s is the mean over lifetimes; compile_s the mean of cold lifetimes' training + eval compile;
    compile_cached_fraction restored / cold (at most 1); epoch_s and eval_s the steady times, the
    warm-up and compile subtracted from the epochs that hold them; each with its n."""
    cal = _fit(tmp_path, real_log(lts, steady_s=steady, eval_s=eval_s))
    val = {k: f.value for k, f in cal.values.items()}
    assert val["job.warmup_s"] == pytest.approx(statistics.fmean(x["warmup_s"] for x in lts), rel=REL, abs=1e-9)
    assert f"n={len(lts)}" in cal.values["job.warmup_s"].comment
    assert val["job.epoch_s"] == pytest.approx(steady, rel=REL, abs=1e-6)
    assert val["job.eval_s"] == pytest.approx(eval_s, rel=REL, abs=1e-6)
    total = lambda x: x["compile_s"] + x["eval_compile_s"]
    cold = [total(x) for x in lts if x["cache"] == "cold"]
    warm = [total(x) for x in lts if x["cache"] == "restored"]
    if cold:
        assert val["job.compile_s"] == pytest.approx(statistics.fmean(cold), rel=REL, abs=1e-9)
        assert cal.values["job.compile_s"].measured and f"n={len(cold)}" in cal.values["job.compile_s"].comment
    else:
        assert not cal.values["job.compile_s"].measured
    if cold and warm and statistics.fmean(cold) > 0:
        expected = min(1.0, statistics.fmean(warm) / statistics.fmean(cold))
        assert val["job.compile_cached_fraction"] == pytest.approx(expected, rel=5e-3, abs=1e-6)
        assert cal.values["job.compile_cached_fraction"].measured
    elif not (cold and warm):
        assert not cal.values["job.compile_cached_fraction"].measured
        assert "DEFAULT" in cal.values["job.compile_cached_fraction"].comment


def test_eager_lifetimes_fit_no_compilation(tmp_path):
    """Warmup events with compile_s 0 and cache "none" measure an eager job: compile_s 0, measured."""
    lts = [{"warmup_s": 0.4, "compile_s": 0.0, "cache": "none"}, {"warmup_s": 0.6, "compile_s": 0.0, "cache": "none"}]
    cal = _fit(tmp_path, real_log(lts))
    assert cal.values["job.compile_s"].value == 0.0 and cal.values["job.compile_s"].measured
    assert "eagerly" in cal.values["job.compile_s"].comment
    assert cal.values["job.warmup_s"].value == pytest.approx(0.5)


def test_logs_without_warmup_events_keep_the_defaults_and_say_so(tmp_path):
    """No warmup event anywhere: warm-up and compile keep their defaults (DEFAULT comment and a note),
    and epoch_s keeps the first epochs' warm-up (the old behaviour: nothing else models it)."""
    lts = [{"warmup_s": 2.0, "compile_s": 0.0}] * 3
    cal = _fit(tmp_path, real_log(lts, steady_s=4.0, epochs_each=2, warmup_events=False))
    for k in ("job.warmup_s", "job.compile_s", "job.compile_cached_fraction"):
        assert not cal.values[k].measured and "DEFAULT" in cal.values[k].comment
        assert "no warmup event" in cal.values[k].comment
    assert any("no warmup event in the logs" in n for n in cal.notes)
    assert cal.values["job.epoch_s"].value == pytest.approx(5.0)  # (6 + 4) / 2: warm-up averaged in


def test_runs_without_warmup_events_among_others_lose_only_their_first_epochs(tmp_path):
    """Mixed logs: the note names the runs without warmup events; their lifetimes' first epochs (warm-up
    unknown) are left out of epoch_s, the other runs' are corrected, so epoch_s is the steady time."""
    old = real_log([{"warmup_s": 3.0, "compile_s": 0.0}] * 2, steady_s=4.0, epochs_each=3, warmup_events=False)
    new = real_log([{"warmup_s": 1.0, "compile_s": 0.0, "cache": "none"}] * 2, steady_s=4.0, epochs_each=3)
    cal = _fit(tmp_path, old, new)
    assert cal.values["job.epoch_s"].value == pytest.approx(4.0)
    assert cal.values["job.epoch_jitter"].value == 0.0
    assert "2 first epoch(s) of lifetimes without a warmup event left out" in cal.values["job.epoch_s"].comment
    assert cal.values["job.warmup_s"].value == pytest.approx(1.0)
    assert any(n.startswith("job.warmup_s: 1 of 2 run(s) have no warmup event (run0)") for n in cal.notes)


# -- asynchronous saves --------------------------------------------------------------------
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stall=st.floats(0.001, 2.0).map(lambda x: round(x, 4)), write=st.floats(0.01, 20.0).map(lambda x: round(x, 3)),
       n=st.integers(1, 4))
def test_async_saves_give_stall_and_background_write(tmp_path, stall, write, n):
    """All runs asynchronous: async_write true, stall_s the loop's stall, write_s the background write
    (`seconds`), each from the n periodic saves."""
    lts = [{"warmup_s": 0.1, "compile_s": 0.0}] * n
    cal = _fit(tmp_path, real_log(lts, async_write=True, stall_s=stall, write_s=write))
    assert cal.values["checkpoint.async_write"].value is True
    assert cal.values["checkpoint.stall_s"].value == pytest.approx(stall, rel=REL)
    assert cal.values["checkpoint.write_s"].value == pytest.approx(write, rel=REL)
    assert f"n={2 * n}" in cal.values["checkpoint.stall_s"].comment
    assert "background write" in cal.values["checkpoint.write_s"].comment


def test_sync_runs_give_the_blocking_write_and_no_stall(tmp_path):
    """Blocking saves only: async_write false (measured), write_s the time training was blocked, stall_s default."""
    cal = _fit(tmp_path, real_log([{"warmup_s": 0.1, "compile_s": 0.0}] * 2, write_s=0.8))
    assert cal.values["checkpoint.async_write"].value is False and cal.values["checkpoint.async_write"].measured
    assert cal.values["checkpoint.write_s"].value == pytest.approx(0.8)
    assert not cal.values["checkpoint.stall_s"].measured


@pytest.mark.parametrize("n_async, n_sync, expect_async", [(1, 2, False), (2, 1, True), (1, 1, False)])
def test_mixed_runs_take_the_majority_mode_and_say_so(tmp_path, n_async, n_sync, expect_async):
    """Mixed async and blocking runs: async_write is the majority's (a tie: blocking), write_s that mode's
    write time, stall_s from the async saves in any case; a note and the comment say so."""
    lt = [{"warmup_s": 0.1, "compile_s": 0.0}] * 2
    logs = ([real_log(lt, async_write=True, stall_s=0.05, write_s=2.0)] * n_async
            + [real_log(lt, async_write=False, write_s=0.6)] * n_sync)
    cal = _fit(tmp_path, *logs)
    assert cal.values["checkpoint.async_write"].value is expect_async
    assert cal.values["checkpoint.async_write"].comment.startswith(f"mixed: {n_async} of n={n_async + n_sync} runs")
    assert cal.values["checkpoint.write_s"].value == pytest.approx(2.0 if expect_async else 0.6)
    assert cal.values["checkpoint.stall_s"].value == pytest.approx(0.05)
    assert any(n.startswith("checkpoint.async_write:") and "validation replays each run" in n for n in cal.notes)


def test_calibrated_async_scenario_loads(tmp_path):
    """`spotsim calibrate` on async runs writes a YAML that loads with async_write, stall_s and write_s set."""
    log = write_log(tmp_path / "a.jsonl", real_log([{"warmup_s": 0.2, "compile_s": 3.0, "cache": "cold"}] * 3,
                                                   async_write=True, stall_s=0.09, write_s=1.5))
    out = tmp_path / "a.yaml"
    r = invoke("calibrate", log, "-o", out)
    assert r.exit_code == 0, r.output
    s = load_scenario([out])
    assert s.checkpoint.async_write and s.checkpoint.stall_s == pytest.approx(0.09)
    assert s.checkpoint.write_s == pytest.approx(1.5)
    assert s.job.warmup_s == pytest.approx(0.2) and s.job.compile_s == pytest.approx(3.0)


# -- bad logs ------------------------------------------------------------------------------
@pytest.mark.parametrize("field, value, says", [
    ("warmup_s", -0.5, "warmup_s is -0.5, not a number of seconds >= 0"),
    ("compile_s", None, "compile_s is missing (null)"),
    ("warmup_s", "fast", "warmup_s is 'fast', not a number of seconds >= 0"),
    ("warmup_s", float("nan"), "warmup_s is nan"),
])
def test_a_bad_warmup_value_is_refused_in_one_line(tmp_path, field, value, says):
    """A warmup event with a negative, null or non-numeric value: calibrate exits 1 with one line naming
    the file, the line, the lifetime and the field."""
    recs = real_log([{"warmup_s": 0.2, "compile_s": 0.0}] * 2)
    i = next(k for k, r in enumerate(recs) if r["event"] == "warmup")
    recs[i][field] = value
    log = write_log(tmp_path / "bad.jsonl", recs)
    r = invoke("calibrate", log, "-o", tmp_path / "x.yaml")
    lines = r.output.strip().splitlines()
    assert r.exit_code == 1 and len(lines) == 1, r.output
    assert f"bad.jsonl:{i + 1}: warmup event of lifetime 1: " in lines[0] and says in lines[0]
    assert not (tmp_path / "x.yaml").exists()


def test_a_warmup_event_without_its_field_is_refused(tmp_path):
    """A warmup event that lacks warmup_s: the schema check names the file, line and field."""
    recs = real_log([{"warmup_s": 0.2, "compile_s": 0.0}])
    i = next(k for k, r in enumerate(recs) if r["event"] == "warmup")
    del recs[i]["warmup_s"]
    r = invoke("calibrate", write_log(tmp_path / "m.jsonl", recs), "-o", tmp_path / "x.yaml")
    lines = r.output.strip().splitlines()
    assert r.exit_code == 1 and len(lines) == 1
    assert f"m.jsonl:{i + 1}: event 'warmup' lacks field(s) warmup_s" in lines[0]


def test_a_second_warmup_event_in_a_lifetime_is_refused(tmp_path):
    recs = real_log([{"warmup_s": 0.2, "compile_s": 0.0}])
    i = next(k for k, r in enumerate(recs) if r["event"] == "warmup")
    recs.insert(i + 1, dict(recs[i]))
    with pytest.raises(CalibrationError, match=rf"d\.jsonl:{i + 2}: a second warmup event for lifetime 1"):
        read_runs(write_log(tmp_path / "d.jsonl", recs))


def test_a_negative_eval_compile_is_refused(tmp_path):
    recs = real_log([{"warmup_s": 0.2, "compile_s": 1.0, "eval_compile_s": 0.5, "cache": "cold"}])
    i = next(k for k, r in enumerate(recs) if r["event"] == "epoch_end" and "compile_s" in r)
    recs[i]["compile_s"] = -1
    with pytest.raises(CalibrationError, match="epoch_end event of lifetime 1: compile_s is -1"):
        read_runs(write_log(tmp_path / "e.jsonl", recs))


# -- validation ----------------------------------------------------------------------------
def test_validate_replays_async_runs_instead_of_skipping_them(tmp_path):
    """A run with asynchronous saves is compared (no "skipped"), replayed with async_write from its
    run_start; a blocking run of the same job with async_write false."""
    lt = [{"warmup_s": 0.2, "compile_s": 0.0, "cache": "none"}] * 3
    a = write_log(tmp_path / "async.jsonl", real_log(lt, async_write=True))
    b = write_log(tmp_path / "sync.jsonl", real_log(lt, async_write=False))
    cal = tmp_path / "c.yaml"
    assert invoke("calibrate", a, b, "-o", cal).exit_code == 0
    r = invoke("validate", "--scenario", cal, a, b, "--out", tmp_path / "v", "--max-error", "100", "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output.splitlines()[0])
    assert summary["runs"] == 2 and summary["skipped"] == []
    s = load_scenario([cal])
    assert v.run_scenario(s, read_runs(a)[0]).checkpoint.async_write is True
    assert v.run_scenario(s, read_runs(b)[0]).checkpoint.async_write is False


def test_simulated_async_runs_are_validated(tmp_path):
    """Simulated logs of an asynchronous-save scenario validate (they were skipped before)."""
    logs = simulated_logs(tmp_path, seeds=(1, 2), sets=("checkpoint.async_write=true", "checkpoint.stall_s=0.5",
                                                        "job.epoch_jitter=0"))
    assert all(read_runs(p)[0].async_write for p in logs)
    cal = tmp_path / "c.yaml"
    assert invoke("calibrate", *logs, "-o", cal).exit_code == 0
    assert load_scenario([cal]).checkpoint.async_write is True
    r = invoke("validate", "--scenario", cal, *logs, "--out", tmp_path / "v", "--max-error", "100", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.splitlines()[0])["runs"] == 2


def _captured_measured(monkeypatch) -> list:
    seen = []
    real_simulate = v.simulate

    def spy(s, seed, **kw):
        seen.append((s, kw["measured"]))
        return real_simulate(s, seed, **kw)

    monkeypatch.setattr(v, "simulate", spy)
    return seen


def test_replay_brings_each_lifetimes_warmup_and_compile(tmp_path, monkeypatch):
    """With start-ups replayed (default), the replay gets each lifetime's measured warm-up and compile
    (training + eval graph) through MeasuredRun; without (--no-replay-startup), the scenario's values;
    an eager real run is replayed with compile_s 0."""
    lts = [{"warmup_s": 0.3, "compile_s": 8.0, "eval_compile_s": 1.0, "cache": "cold"},
           {"warmup_s": 0.5, "compile_s": 2.0, "eval_compile_s": 0.5, "cache": "restored"},
           {"warmup_s": 0.4, "compile_s": 2.5, "eval_compile_s": 0.0, "cache": "restored"}]
    run = read_runs(write_log(tmp_path / "c.jsonl", real_log(lts, compile_flag=True)))[0]
    scenario = load_scenario([], ["job.epoch_s=4", "job.eval_s=0.5", "job.warmup_s=9", "job.compile_s=7"])
    seen = _captured_measured(monkeypatch)
    v.compare(scenario, run)
    assert seen[-1][1].warmups_s == (0.3, 0.5, 0.4)
    assert seen[-1][1].compiles_s == pytest.approx((9.0, 2.5, 2.5))
    assert seen[-1][0].job.compile_s == 7.0
    v.compare(scenario, run, replay_startup=False)
    assert seen[-1][1].warmups_s == () and seen[-1][1].compiles_s == ()
    eager = read_runs(write_log(tmp_path / "e.jsonl", real_log(
        [{"warmup_s": 0.3, "compile_s": 0.0, "cache": "none"}] * 2)))[0]
    assert eager.compiled is False and v.run_scenario(scenario, eager).job.compile_s == 0.0


def test_replay_speed_replays_steady_epochs(tmp_path, monkeypatch):
    """--replay-speed replays steady epoch times (warm-up and compile taken out, they are replayed per
    lifetime); a run without warmup events keeps them inside its epochs, replayed with warm-up 0."""
    lts = [{"warmup_s": 1.5, "compile_s": 0.0, "cache": "none"}] * 2
    scenario = load_scenario([], ["job.epoch_s=4", "job.eval_s=0.5", "job.warmup_s=9"])
    seen = _captured_measured(monkeypatch)
    run = read_runs(write_log(tmp_path / "w.jsonl", real_log(lts, steady_s=4.0)))[0]
    v.compare(scenario, run, replay_speed=True)
    s, measured = seen[-1]
    assert measured.epoch_times_s == pytest.approx((4.0,) * 4) and s.job.epoch_s == pytest.approx(4.0)
    assert measured.warmups_s == (1.5, 1.5)
    old = read_runs(write_log(tmp_path / "o.jsonl", real_log(lts, steady_s=4.0, warmup_events=False)))[0]
    v.compare(scenario, old, replay_speed=True)
    s, measured = seen[-1]
    assert measured.epoch_times_s == pytest.approx((5.5, 4.0, 5.5, 4.0))
    assert s.job.warmup_s == 0.0 and s.job.compile_s == 0.0 and measured.warmups_s == (None, None)


def test_committed_async_runs_are_validated():
    """The first committed CPU campaign (results/cpu less async-*, which is a campaign of its own) compares
    its asynchronous run, perf-async, and skips nothing for asynchronous saves."""
    logs = sorted(p for p in ROOT.glob("results/cpu/*/events.jsonl") if not p.parent.name.startswith("async-"))
    runs = [r for p in logs for r in read_runs(p)]
    scenario = load_scenario([ROOT / "scenarios" / "calibrated" / "cpu.yaml"])
    report = v.validate(scenario, runs)
    compared = {c.run.label for c in report.comparisons if c.run.async_write}
    assert "perf-async" in compared
    assert not any("asynchronous" in s for s in report.skipped)


# -- round trip through the simulator --------------------------------------------------------
SIM_SETS = ("job.warmup_s=2.5", "job.compile_s=12", "job.compile_cached_fraction=0.25",
            "checkpoint.async_write=true", "checkpoint.stall_s=0.5")


@pytest.fixture(scope="module")
def sim_async(tmp_path_factory):
    """Simulated runs of the KNOWN job (calibrate_helpers) with warm-up, compilation and asynchronous
    saves, and the scenario calibrated from them."""
    tmp = tmp_path_factory.mktemp("simasync")
    logs = simulated_logs(tmp, seeds=(1, 2, 3, 4), sets=SIM_SETS)
    assert all('"event":"warmup"' in p.read_text() for p in logs)
    assert any('"async_write":true' in p.read_text() for p in logs)
    out = tmp / "calibrated.yaml"
    r = invoke("calibrate", *logs, "-o", out)
    assert r.exit_code == 0, r.output
    return tmp, logs, out


def test_simulated_warmup_compile_and_async_saves_are_recovered(sim_async):
    """The simulator's own logs calibrate back to the values that wrote them: warm-up, compilation (cold
    and restored: the cached fraction), stall and background write exactly (the YAML's rounding), epoch
    time within 5% (CV 0.1 over ~100 epochs: a standard error of ~1%)."""
    _, _, out = sim_async
    s = load_scenario([out])
    assert s.job.warmup_s == pytest.approx(2.5, rel=REL)
    assert s.job.compile_s == pytest.approx(12.0, rel=REL)
    assert s.job.compile_cached_fraction == pytest.approx(0.25, rel=5e-3)
    assert s.checkpoint.async_write is True
    assert s.checkpoint.stall_s == pytest.approx(0.5, rel=REL)
    assert s.checkpoint.write_s == pytest.approx(4.0, rel=REL)
    assert s.checkpoint.emergency_s == pytest.approx(2.0, rel=REL)
    assert s.job.epoch_s == pytest.approx(30.0, rel=0.05)
    assert s.vm.startup_s == pytest.approx(50.0, rel=REL)


def test_simulated_async_runs_replay_exactly(sim_async, tmp_path):
    """Those runs without epoch jitter, replayed through their calibrated scenario (warm-up and compile
    per lifetime, asynchronous saves): makespan within 0.1%, every count equal."""
    tmp, _, _ = sim_async
    logs = simulated_logs(tmp_path, seeds=(1, 2, 3), sets=SIM_SETS + ("job.epoch_jitter=0",))
    cal = tmp_path / "c.yaml"
    assert invoke("calibrate", *logs, "-o", cal).exit_code == 0
    for flags in ((), ("--no-replay-startup",)):
        r = invoke("validate", "--scenario", cal, *logs, "--out", tmp_path / "v", "--max-error", "0.1", *flags)
        assert r.exit_code == 0, r.output
        rows = list(csv.DictReader(open(tmp_path / "v" / "validation.csv")))
        assert len(rows) == 3
        for row in rows:
            assert abs(float(row["makespan_err_pct"])) < 0.1, (flags, row)
            for k in ("preemptions", "emergency", "periodic", "epochs_done"):
                assert row[f"measured_{k}"] == row[f"simulated_{k}"], (flags, k, row)
