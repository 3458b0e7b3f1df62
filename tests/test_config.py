"""Scenarios: layering, presets, and refusal of bad input with the key named."""
import pytest
from click.testing import CliRunner

from spotsim.cli import main
from spotsim.config import all_keys, load_scenario
from spotsim.errors import ScenarioError

from .conftest import DATA, ROOT

BROKEN = [
    # (YAML text, key the message must name, a phrase of what is allowed)
    ("jobb:\n  epochs: 3\n", "jobb", "unknown key"),
    ("job:\n  epoch: 3\n", "job.epoch", "did you mean 'epochs'"),
    ("job:\n  epochs: many\n", "job.epochs", "whole number"),
    ("job:\n  epochs: 2.5\n", "job.epochs", "whole number"),
    ("job:\n  epochs: 0\n", "job.epochs", ">= 1"),
    ("checkpoint:\n  write_s: -3\n", "checkpoint.write_s", ">= 0"),
    ("job:\n  epoch_s: 0\n", "job.epoch_s", "> 0"),
    ("checkpoint:\n  strategy: sometimes\n", "checkpoint.strategy", "none, fixed, adaptive"),
    ("interrupts:\n  pattern: chaos\n", "interrupts.pattern", "poisson"),
    ("interrupts:\n  rate_per_h: -1\n", "interrupts.rate_per_h", ">= 0"),
    ("interrupts:\n  pattern: none\n  rate_per_h: 2\n", "interrupts.rate_per_h", "never preempts"),
    ("interrupts:\n  pattern: trace\n  trace: missing.json\n", "interrupts.trace", "no such trace file"),
    ("interrupts:\n  pattern: trace\n", "interrupts.trace", "needs the path"),
    ("checkpoint:\n  every_epochs: 2\n  every_s: 100\n", "checkpoint.every_epochs", "exactly one"),
    ("checkpoint:\n  emergency: maybe\n", "checkpoint.emergency", "true or false"),
    ("cloud: ibm\n", "cloud", "gcp, aws, azure"),
    ("cloud: aws\ngpu: L4\n", "gpu", "V100"),
    ("capacity:\n  wait: trace\n", "capacity.wait", "pattern: trace"),
    ("job: 5\n", "job", "mapping"),
    ("vm:\n  notice_reliability: 1.5\n", "vm.notice_reliability", "<= 1"),
    ("checkpoint:\n  min_interval_s: 500\n  max_interval_s: 100\n", "checkpoint.min_interval_s", "must not exceed"),
    ("interrupts:\n  rate_per_h: 1.0e9\n", "interrupts.rate_per_h", "<= 36000"),
    ("capacity:\n  wait: sometimes\n", "capacity.wait", "exponential"),
    ("job:\n  epochs: 10\n   eval_s: 3\n", "scenario", "line 3"),
    ("- a\n- b\n", "scenario", "mapping"),
    ("accuracy:\n  a_0: 0.9\n  a_max: 0.5\n", "accuracy.a_0", "a_max"),
    ("checkpoint:\n  on_notice: pray\n", "checkpoint.on_notice", "save_and_exit, train_then_save"),
    ("job:\n  epochs: 10000000000\n", "job.epochs", "memory"),
]


@pytest.mark.parametrize("text,key,allowed", BROKEN, ids=[b[1] + "-" + str(i) for i, b in enumerate(BROKEN)])
def test_broken_scenario_is_refused_naming_the_key(tmp_path, text, key, allowed):
    """Each broken scenario is refused before running: one line naming key and what is allowed, no traceback."""
    f = tmp_path / "broken.yaml"
    f.write_text(text)
    with pytest.raises(ScenarioError) as exc:
        load_scenario([f])
    assert key in str(exc.value) and allowed in str(exc.value)
    result = CliRunner().invoke(main, ["run", str(f)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and key in result.output
    assert isinstance(result.exception, SystemExit)
    assert len(result.output.strip().splitlines()) == 1


def test_bad_set_values_are_refused_through_cli():
    """--set with a bad key, a bad value or no '=' gives one clear line."""
    runner = CliRunner()
    for item, key in [("job.epochz=3", "job.epochz"), ("vm.notice_s=-5", "vm.notice_s"), ("vm.notice_s", "vm.notice_s")]:
        r = runner.invoke(main, ["run", str(ROOT / "scenarios/default.yaml"), "--set", item])
        assert r.exit_code == 1 and key in r.output and "Traceback" not in r.output


def test_layers_apply_in_order(tmp_path):
    """defaults <- cloud preset <- files (extends first) <- --set."""
    base = tmp_path / "base.yaml"
    base.write_text("job:\n  epochs: 7\n  epoch_s: 10\n")
    child = tmp_path / "child.yaml"
    child.write_text("extends: base.yaml\ncloud: aws\ngpu: V100\njob:\n  epochs: 9\n")
    s = load_scenario([child], ["job.eval_s=4"])
    assert (s.job.epochs, s.job.epoch_s, s.job.eval_s) == (9, 10.0, 4.0)
    assert s.vm.notice_s == 120.0 and s.billing.free_if_preempted_within_s == 3600.0  # AWS preset
    assert s.prices.ondemand_per_h == 3.06
    s2 = load_scenario([child], ["vm.notice_s=30", "prices.spot_per_h=1.5"])
    assert s2.vm.notice_s == 30.0 and s2.prices.spot_per_h == 1.5  # --set beats the preset
    assert s.name == "child"


def test_every_s_replaces_default_epoch_interval():
    """Setting checkpoint.every_s alone switches fixed checkpoints to seconds."""
    s = load_scenario([], ["checkpoint.every_s=300"])
    assert s.checkpoint.every_epochs is None and s.checkpoint.every_s == 300.0


def test_trace_path_is_relative_to_scenario_file(tmp_path):
    """A relative trace path is read from the scenario file's folder."""
    (tmp_path / "t.json").write_text((DATA / "tiny_trace.json").read_text())
    f = tmp_path / "s.yaml"
    f.write_text("interrupts:\n  pattern: trace\n  trace: t.json\n")
    assert load_scenario([f]).interrupts.trace == str(tmp_path / "t.json")


def test_a_base_files_rate_does_not_rescale_a_trace_switched_to_later(tmp_path):
    """A rate rescales a trace only when given with the trace or after it: a base file's rate was meant for
    its own pattern, so `--set interrupts.pattern=trace` over it replays the trace at its own rate."""
    trace = DATA / "tiny_trace.json"
    base = tmp_path / "base.yaml"
    base.write_text("interrupts:\n  pattern: poisson\n  rate_per_h: 3.0\n")
    switched = load_scenario([base], ["interrupts.pattern=trace", f"interrupts.trace={trace}"])
    assert switched.interrupts.rate_per_h is None
    scaled = load_scenario([base], ["interrupts.pattern=trace", f"interrupts.trace={trace}", "interrupts.rate_per_h=2"])
    assert scaled.interrupts.rate_per_h == 2.0
    both = tmp_path / "both.yaml"
    both.write_text(f"interrupts:\n  pattern: trace\n  trace: {trace}\n  rate_per_h: 4\n")
    assert load_scenario([both]).interrupts.rate_per_h == 4.0
    later = tmp_path / "later.yaml"
    later.write_text(f"extends: both.yaml\ninterrupts:\n  rate_per_h: 5\n")
    assert load_scenario([later]).interrupts.rate_per_h == 5.0


def test_with_values_rechecks_and_keys_are_listed():
    """with_values revalidates; all_keys lists every dotted key."""
    s = load_scenario([])
    assert s.with_values({"checkpoint.write_s": 9}).checkpoint.write_s == 9.0
    with pytest.raises(ScenarioError, match="checkpoint.write_s"):
        s.with_values({"checkpoint.write_s": -9})
    assert "interrupts.rate_per_h" in all_keys() and "job.epochs" in all_keys()


def test_bundled_scenarios_load():
    """Every YAML under scenarios/ loads cleanly."""
    files = sorted((ROOT / "scenarios").rglob("*.yaml"))
    assert files
    for f in files:
        load_scenario([f])


def test_a_scenario_error_survives_a_process_pipe():
    """Sweep workers send their errors back pickled: the message, key and value arrive intact."""
    import pickle

    err = ScenarioError("job.deadline_h", 0.5, "shorter than all on-demand (2.0 h)", "--vary")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is ScenarioError and str(back) == str(err)
    assert (back.key, back.value, back.allowed, back.source) == (err.key, err.value, err.allowed, err.source)
