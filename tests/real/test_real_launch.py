"""`real launch`: the SkyPilot managed-job task it writes, checked three ways.

- Its content, parsed with yaml: Spot resources for the cloud, recovery on exit status 3
  (`real run` after a cloud notice) and on nothing else by default, the bucket, the set-up,
  and a run command with `--resume` and `--notice <cloud>`.
- SkyPilot's own task parser (`sky.Task.from_yaml`) accepts it, in a subprocess with its own
  HOME (importing sky writes ~/.sky); skipped with the reason where SkyPilot is not installed.
- The run command executed by bash, as SkyPilot runs it on a VM, against a real folder and a
  real S3 protocol server (moto): it starts the run on an empty folder, resumes it where the
  bucket holds a stopped run, does nothing where the run is complete, and fails where the
  bucket cannot be read. `real` is a stub there that records its arguments and exits with a
  chosen status (training is tested in the other real-mode tests); the status SkyPilot sees is
  the stub's own.
Bad input is refused before anything is written. `--go` runs `sky jobs launch FILE -y` (a
stub `sky` on PATH) or says how to install SkyPilot.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from real import launch as launching
from real.cli import RESUME_FREE as RESUME_FREE_OPTIONS
from real.cli import VM_PREEMPTED, main, run
from spotsim.events import EventLog

pytest_plugins = ("storage_servers",)  # fixtures: s3_bucket

ROOT = Path(__file__).resolve().parents[2]
BUCKET = {"gcp": "gs://spotsim-b/runs", "aws": "s3://spotsim-b/runs", "azure": "az://spotsim-c/runs"}
USER = ["--epochs", "30", "--strategy", "adaptive", "--model", "resnet18", "--download", "--seed", "7"]


def launch(*args, **kw):
    return CliRunner().invoke(main, ["launch", *args], **kw)


def write_task(tmp_path: Path, cloud: str, *extra: str, name: str = "r50") -> dict:
    out = tmp_path / f"{cloud}-{name}.yaml"
    r = launch("--cloud", cloud, "--gpu", "L4", "--bucket", BUCKET[cloud], "--name", name, "-o", str(out),
               *extra, *USER)
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    return yaml.safe_load(out.read_text())


def branch(run_script: str, state: str) -> list[str]:
    """The command of one branch (`new)` or `resume)`) of the run script, as bash would split it."""
    line = next(ln.strip() for ln in run_script.splitlines() if ln.strip().startswith(f"{state})"))
    return shlex.split(line[len(state) + 1:].strip().removeprefix("exec ").removesuffix(";;"))


# --- content ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("cloud", ["gcp", "aws", "azure"])
def test_task_runs_real_run_on_spot_and_recovers_only_preemptions(tmp_path, cloud):
    task = write_task(tmp_path, cloud)
    res = task["resources"]
    assert res["infra"] == cloud and res["accelerators"] == "L4" and res["use_spot"] is True
    assert res["job_recovery"] == {"max_restarts_on_errors": 0, "recover_on_exit_codes": [VM_PREEMPTED]}
    assert VM_PREEMPTED == launching.VM_PREEMPTED == 3
    assert set(launching.RESUMED_WITH) == set(RESUME_FREE_OPTIONS) - {"out", "resume"}
    assert task["name"] == "r50"
    assert Path(task["workdir"]) == ROOT and (Path(task["workdir"]) / "setup.cfg").is_file()
    assert "pip install" in task["setup"] and ".[real,cloud]" in task["setup"]
    url = f"{BUCKET[cloud]}/r50"
    assert f"CKPT_DIR={url}" in task["run"].splitlines()
    new, resume = branch(task["run"], "new"), branch(task["run"], "resume")
    for cmd in (new, resume):
        assert cmd[:2] == ["real", "run"]
        assert cmd[cmd.index("--notice") + 1] == cloud
        assert cmd[cmd.index("--ckpt-dir") + 1] == "$CKPT_DIR"
        assert "--out" in cmd and "--interrupts" not in cmd
    assert "--resume" in resume and "--resume" not in new
    assert new[-len(USER):] == USER  # the user's options, as given, on the first VM
    assert "--epochs" not in resume  # a resume takes them from the bucket's run.json


def test_region_gpu_count_and_restarts_on_errors(tmp_path):
    task = write_task(tmp_path, "gcp", "--region", "us-central1", "--gpu", "A100:8",
                      "--max-restarts-on-errors", "2")
    res = task["resources"]
    assert res["infra"] == "gcp/us-central1" and res["accelerators"] == "A100:8"
    assert res["job_recovery"] == {"max_restarts_on_errors": 2, "recover_on_exit_codes": [VM_PREEMPTED]}


def test_standard_output_and_default_name(tmp_path):
    r = launch("--cloud", "aws", "--gpu", "T4", "--bucket", "s3://b/runs/", "-o", "-", "--epochs", "2",
               "--dataset", "synthetic")
    assert r.exit_code == 0, r.output
    task = yaml.safe_load(r.stdout)
    assert task["name"].startswith("spotsim-") and len(task["name"]) == len("spotsim-") + 8
    assert f"CKPT_DIR=s3://b/runs/{task['name']}" in task["run"]  # trailing slash normalised away


RESUME_FREE = st.lists(st.sampled_from([["--quiet"], ["--notice-poll-s", "2.5"],
                                        ["--metadata-url", "http://127.0.0.1:9/x y"]]), unique_by=tuple)
OTHER = st.lists(st.sampled_from([["--strategy", "milestone"], ["--every-s", "600"], ["--keep", "4"],
                                  ["--async-checkpoint"], ["--batch-size", "256"], ["--no-emergency"],
                                  ["--data-root", "d i r/it's"], ["--lr", "0.05"], ["--deterministic"]]),
                 unique_by=tuple)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(free=RESUME_FREE, other=OTHER, epochs=st.integers(1, 500), cloud=st.sampled_from(["gcp", "aws", "azure"]))
def test_options_pass_through_verbatim(free, other, epochs, cloud):
    """Any mix of `real run` options reaches the first VM token for token (quoting survives spaces and
    quotes); a resume gets only those `real run --resume` takes afresh, so it never contradicts run.json."""
    user = ["--epochs", str(epochs), "--dataset", "synthetic", *[t for o in other + free for t in o]]
    plan = launching.plan(cloud, "L4", BUCKET[cloud], user, run, name="prop")
    script = yaml.safe_load(launching.to_yaml(plan))["run"]
    assert branch(script, "new")[-len(user):] == user
    resume = branch(script, "resume")
    tail = resume[resume.index("$OUT") + 1:]
    expected = {o[0]: o[1] if len(o) > 1 else None for o in free}
    got = {}
    while tail:
        flag = tail.pop(0)
        got[flag] = tail.pop(0) if flag != "--quiet" else None
    assert got.keys() == expected.keys()
    for flag, value in expected.items():
        assert value is None or (float(got[flag]) == float(value) if flag == "--notice-poll-s" else got[flag] == value)


# --- SkyPilot's own parser -------------------------------------------------------------------------

PARSE = """
import json, sys
import sky
out = []
for path in sys.argv[1:]:
    try:
        task = sky.Task.from_yaml(path)
    except Exception as exc:
        out.append({"error": type(exc).__name__ + ": " + str(exc)})
        continue
    (r,) = list(task.resources)
    out.append({"cloud": str(r.cloud).lower(), "region": r.region, "use_spot": r.use_spot,
                "accelerators": r.accelerators, "job_recovery": r.job_recovery, "name": task.name,
                "workdir": task.workdir, "has_run": bool(task.run), "has_setup": bool(task.setup)})
print(json.dumps(out))
"""


@pytest.mark.skipif(importlib.util.find_spec("sky") is None,
                    reason="SkyPilot is not installed (pip install 'spotsim[sky]'): its task parser is not here")
def test_skypilot_task_parser_accepts_the_task(tmp_path):
    paths = []
    for cloud, extra in (("gcp", ()), ("aws", ("--region", "us-east-1")), ("azure", ("--gpu", "A100:2"))):
        write_task(tmp_path, cloud, *extra)
        paths.append(tmp_path / f"{cloud}-r50.yaml")
    broken = yaml.safe_load(paths[0].read_text())
    broken["resources"]["job_recovery"]["recover_on_exit_codes"] = ["three"]  # the parser must be checking
    paths.append(tmp_path / "broken.yaml")
    paths[-1].write_text(yaml.safe_dump(broken))
    home = tmp_path / "home"
    home.mkdir()
    proc = subprocess.run([sys.executable, "-c", PARSE, *map(str, paths)], capture_output=True, text=True, check=False,
                          timeout=120, env={**os.environ, "HOME": str(home)})
    assert proc.returncode == 0, proc.stderr
    gcp, aws, azure, bad = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "error" in bad, bad
    for parsed, cloud in ((gcp, "gcp"), (aws, "aws"), (azure, "azure")):
        assert "error" not in parsed, parsed
        assert parsed["cloud"] == cloud and parsed["use_spot"] is True and parsed["name"] == "r50"
        assert parsed["job_recovery"]["recover_on_exit_codes"] == [VM_PREEMPTED]
        assert parsed["job_recovery"]["max_restarts_on_errors"] == 0
        assert parsed["has_run"] and parsed["has_setup"] and Path(parsed["workdir"]) == ROOT
    assert gcp["accelerators"] == {"L4": 1} and azure["accelerators"] == {"A100": 2}
    assert aws["region"] == "us-east-1"


# --- the run command, executed ---------------------------------------------------------------------

STUB = """#!/bin/sh
"{python}" -c 'import json, sys; open(sys.argv[1], "a").write(json.dumps(sys.argv[2:]) + "\\n")' "{calls}" "$@"
exit "${{STUB_EXIT:-0}}"
"""


@pytest.fixture
def vm(tmp_path):
    """A VM's shell: `real` records its arguments, `python` is this one, HOME is empty."""
    bin_dir, home, calls = tmp_path / "bin", tmp_path / "home", tmp_path / "calls.jsonl"
    bin_dir.mkdir()
    home.mkdir()
    stub = bin_dir / "real"
    stub.write_text(STUB.format(python=sys.executable, calls=calls))
    stub.chmod(0o755)
    python = bin_dir / "python"  # a wrapper, not a link: a link outside the venv would lose its packages
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)

    def execute(script: str, status: int = 0) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HOME": str(home),
               "STUB_EXIT": str(status), "PYTHONPATH": str(ROOT)}
        proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=60, check=False)
        made = [json.loads(ln) for ln in calls.read_text().splitlines()] if calls.exists() else []
        calls.unlink(missing_ok=True)
        return proc, made

    execute.home = home
    return execute


def put_run(loc_write, completed: bool) -> None:
    """A run's files as `real run --ckpt-dir` leaves them: run.json and a log, complete or stopped."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        with EventLog(path, source="real") as log:
            log.emit("run_start", 0.0, epochs=2)
            log.emit("vm_start", 0.1, lifetime=1)
            log.emit("epoch_end", 5.0, epoch=1, train_s=4.0, eval_s=0.5, val_acc=0.1)
            if completed:
                log.emit("epoch_end", 9.0, epoch=2, train_s=4.0, eval_s=0.5, val_acc=0.2)
            log.emit("run_end", 9.5, epochs_done=2 if completed else 1, completed=completed)
        loc_write("events.jsonl", path.read_bytes())
    loc_write("run.json", b'{"epochs": 2}')


def script_for(ckpt_dir: str, user: list[str], cloud: str = "gcp") -> str:
    plan = launching.Launch(cloud=cloud, gpu="L4", ckpt_dir=ckpt_dir, name="r1", workdir=ROOT, new_args=user,
                            resume_args=["--quiet"])
    return launching.run_script(plan)


def test_run_command_starts_resumes_and_finishes(vm, tmp_path):
    """Local folder: the first VM starts the run with the user's options, a later one resumes it,
    a finished run ends the job with success; `real run`'s exit status is the job's."""
    from real.storage import Location

    folder = tmp_path / "bucket" / "r1"
    user = ["--epochs", "2", "--data-root", "my data", "--quiet"]
    script = script_for(f"file://{folder}", user)
    out = str(vm.home / "spotsim-runs" / "r1")

    proc, calls = vm(script)
    assert proc.returncode == 0, proc.stderr
    assert calls == [["run", "--notice", "gcp", "--ckpt-dir", f"file://{folder}", "--out", out, *user]]

    put_run(Location(f"file://{folder}").write, completed=False)
    proc, calls = vm(script, status=VM_PREEMPTED)
    assert proc.returncode == VM_PREEMPTED  # what SkyPilot sees: real run's own status
    assert calls == [["run", "--resume", "--notice", "gcp", "--ckpt-dir", f"file://{folder}", "--out", out,
                      "--quiet"]]

    put_run(Location(f"file://{folder}").write, completed=True)
    proc, calls = vm(script, status=1)
    assert proc.returncode == 0 and calls == [] and "complete" in proc.stdout


def test_run_command_against_s3(vm, s3_bucket):
    """Through the CLI with a real S3 protocol server: empty folder -> new run, stopped run -> resume."""
    from real.storage import Location

    url = s3_bucket.url("launch")
    bucket, name = url.rsplit("/", 1)
    r = launch("--cloud", "aws", "--gpu", "L4", "--bucket", bucket, "--name", name, "-o", "-", "--epochs", "3",
               "--dataset", "synthetic")
    assert r.exit_code == 0, r.output
    script = yaml.safe_load(r.stdout)["run"]
    proc, calls = vm(script)
    assert proc.returncode == 0, proc.stderr
    assert len(calls) == 1 and "--resume" not in calls[0] and calls[0][calls[0].index("--ckpt-dir") + 1] == url
    put_run(Location(url).write, completed=False)
    proc, calls = vm(script)
    assert proc.returncode == 0, proc.stderr
    assert len(calls) == 1 and calls[0][:2] == ["run", "--resume"] and "--epochs" not in calls[0]


def test_run_command_fails_without_looping_on_an_unreadable_bucket(vm, s3_bucket):
    """A bucket this VM may not read (moto's IAM checks on, the keys unknown to them): the job fails
    with the store's reason in one line (status 1, which SkyPilot does not restart by default) and
    `real run` is never started. (A bucket that does not exist reads as empty: `real run` then
    refuses it before training, with its own message.)"""
    from storage_servers import deny_all

    script = script_for(s3_bucket.url("denied"), ["--epochs", "2"], cloud="aws")
    _, allow = deny_all(s3_bucket)
    try:
        proc, calls = vm(script)
    finally:
        allow()
    assert proc.returncode == 1 and calls == []
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot read it" in lines[0] and "Traceback" not in proc.stderr, proc.stderr


def test_state_helper(tmp_path):
    from real.storage import Location

    empty = tmp_path / "empty"
    assert launching.run_state(str(empty)) == "new"
    loc = tmp_path / "stopped"
    put_run(Location(str(loc)).write, completed=False)
    assert launching.run_state(str(loc)) == "resume"
    (loc / "events.jsonl").write_text("not json\n")
    assert launching.run_state(str(loc)) == "resume"  # `real run --resume` says what is wrong
    put_run(Location(str(loc)).write, completed=True)
    assert launching.run_state(str(loc)) == "done"
    assert launching.main(["bogus"]) == 2


# --- bad input -------------------------------------------------------------------------------------

BASE = ["--cloud", "gcp", "--gpu", "L4", "--bucket", "gs://b/runs", "--epochs", "2", "--dataset", "synthetic"]


@pytest.mark.parametrize("args, needle", [
    (["--cloud", "ibm", "--gpu", "L4", "--bucket", "gs://b/r", "--epochs", "2"], "'gcp', 'aws', 'azure'"),
    (["--cloud", "gcp", "--gpu", "L4", "--epochs", "2"], "--bucket"),
    ([*BASE, "--interrupts", "poisson", "--rate", "6/h"], "the cloud preempts"),
    ([*BASE, "--rate", "6/h"], "the cloud preempts"),
    ([*BASE, "--notice", "aws"], "--cloud"),
    ([*BASE, "--notice", "gcp"], "--cloud"),
    ([*BASE, "--ckpt-dir", "gs://b/x"], "--bucket"),
    ([*BASE, "--out", "somewhere"], "run directory"),
    ([*BASE, "--resume"], "resumes by itself"),
    ([*BASE, "--epochs", "many"], "--epochs"),
    ([*BASE, "--no-such-option"], "No such option"),
    (["--cloud", "gcp", "--gpu", "L4", "--bucket", "gs://b/r", "--dataset", "synthetic"], "--epochs"),
    (["--cloud", "gcp", "--gpu", "L4", "--bucket", "gs://b/r", "--epochs", "2"], "--download"),
    (["--cloud", "gcp", "--gpu", "L4", "--bucket", "runs/local", "--epochs", "2", "--dataset", "synthetic"],
     "local path"),
    (["--cloud", "gcp", "--gpu", "L4", "--bucket", "file:///tmp/r", "--epochs", "2", "--dataset", "synthetic"],
     "local path"),
    (["--cloud", "gcp", "--gpu", "L4", "--bucket", "gs://", "--epochs", "2", "--dataset", "synthetic"], "bucket"),
    (["--cloud", "gcp", "--gpu", "L4", "--bucket", "ftp://b/r", "--epochs", "2", "--dataset", "synthetic"],
     "unsupported scheme"),
    (["--cloud", "gcp", "--gpu", "L4 x2", "--bucket", "gs://b/r", "--epochs", "2", "--dataset", "synthetic"],
     "NAME:COUNT"),
    ([*BASE, "--name", "Not_OK"], "run name"),
    ([*BASE, "--workdir", "."], None),  # the repository root: accepted
])
def test_bad_input_refused_in_one_line_and_nothing_written(tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "task.yaml"
    r = launch(*args, "-o", str(out))
    if needle is None:
        assert r.exit_code == 0, r.output
        return
    assert r.exit_code == 2, r.output
    errors = [ln for ln in r.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and needle in errors[0], r.output
    assert "Traceback" not in r.output and not out.exists()


@pytest.mark.parametrize("cloud, bucket", [("gcp", "s3://b/r"), ("gcp", "az://c/r"), ("aws", "gs://b/r"),
                                           ("aws", "az://c/r"), ("azure", "gs://b/r"), ("azure", "s3://b/r")])
def test_bucket_of_another_cloud_refused_unless_asked(tmp_path, cloud, bucket):
    out = tmp_path / "task.yaml"
    args = ["--cloud", cloud, "--gpu", "L4", "--bucket", bucket, "--epochs", "2", "--dataset", "synthetic",
            "-o", str(out)]
    r = launch(*args)
    assert r.exit_code == 2 and "--cross-cloud-bucket" in r.output and not out.exists(), r.output
    r = launch(*args, "--cross-cloud-bucket")
    assert r.exit_code == 0, r.output
    warnings = [ln for ln in r.output.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "credentials" in warnings[0], r.output
    assert f"CKPT_DIR={bucket}/" in yaml.safe_load(out.read_text())["run"]


def test_workdir_must_be_the_source_tree(tmp_path):
    r = launch(*BASE, "--workdir", str(tmp_path), "-o", str(tmp_path / "t.yaml"))
    assert r.exit_code == 2 and "setup.cfg" in r.output


# --- --go ------------------------------------------------------------------------------------------

def test_go_runs_sky_jobs_launch(tmp_path, monkeypatch):
    bin_dir, record = tmp_path / "bin", tmp_path / "sky-args.json"
    bin_dir.mkdir()
    sky = bin_dir / "sky"
    sky.write_text(f'#!/bin/sh\n"{sys.executable}" -c \'import json, os, sys; json.dump([sys.argv[2:], '
                   f'os.path.isfile(sys.argv[4])], open(sys.argv[1], "w"))\' "{record}" "$@"\n'
                   f'exit "${{SKY_EXIT:-0}}"\n')
    sky.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "task.yaml"
    r = launch(*BASE, "-o", str(out), "--go")
    assert r.exit_code == 0, r.output
    argv, existed = json.loads(record.read_text())
    assert argv == ["jobs", "launch", str(out), "-y"] and existed
    monkeypatch.setenv("SKY_EXIT", "7")
    r = launch(*BASE, "-o", str(out), "--go")
    assert r.exit_code == 7  # SkyPilot's refusal is the command's


def test_go_without_skypilot_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(launching, "find_sky", lambda: None)
    out = tmp_path / "task.yaml"
    r = launch(*BASE, "-o", str(out), "--go")
    assert r.exit_code == 1
    errors = [ln for ln in r.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and "pip install 'spotsim[sky]'" in errors[0] and f"sky jobs launch {out}" in errors[0]
    assert out.is_file()  # written all the same
    r = launch(*BASE, "-o", "-", "--go")
    assert r.exit_code == 2 and "-o FILE" in r.output
