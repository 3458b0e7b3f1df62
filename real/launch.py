"""`real launch`: a SkyPilot managed-job task that runs `real run` on Spot VMs and recovers it.

SkyPilot (`sky jobs launch`) takes the place of the study's hand-written watcher:
it provisions a Spot VM with the GPU, runs the task's `setup` and `run`, and when
the cloud takes the VM away it provisions another one (in another region where
it must) and runs them again. What this module writes is a task YAML in
SkyPilot's documented format (`resources` with `infra`, `accelerators`,
`use_spot: true`, `job_recovery`; `workdir`; `setup`; `run`); SkyPilot is needed
only to launch it (`pip install 'spotsim[sky]'`).

The run command asks the bucket where the run stands (`python -m real.launch
state URL`, below) and then either starts it, `real run --notice <cloud>
--ckpt-dir URL ...` with the user's options, or continues it, `real run --resume
--notice <cloud> --ckpt-dir URL`, which fetches the run's options and log from
the bucket (real/storage.py) onto the new VM; a run already complete ends the job
successfully. Always `--resume` would refuse the first VM (an empty folder has
nothing to resume), and never would start over on every VM.

Exit statuses and SkyPilot's recovery (SkyPilot >= 0.11.2, sky/jobs/controller.py
and recovery_strategy.py): when the job's process ends with a non-zero status the
controller waits 5 s and asks the cloud about the cluster. A cluster that is no
longer UP was preempted: it is recovered whatever the status, and preemptions
are not counted against any limit. A cluster still UP means the program failed:
it is restarted only if its exit status is in `recover_on_exit_codes`, or while
fewer than `max_restarts_on_errors` failures were restarted. `real run` exits 3
(`VM_PREEMPTED`) only after a cloud notice, with the trainer's state durable in
the bucket; usually the VM is gone before SkyPilot looks, but where it is still
UP (the cloud is late ending it) the status 3 in `recover_on_exit_codes` makes
SkyPilot move the job to a new VM. Any other failure (a bad option, an
unreadable bucket, a crash loop, exit 1 or 2) is not restarted unless
`--max-restarts-on-errors N` says so, and then N times at most: a genuine
failure never loops.
"""
from __future__ import annotations

import re
import shlex
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

SKY_EXTRA = "pip install 'spotsim[sky]'"
MIN_SKYPILOT = "0.11.2"
"""The first SkyPilot release whose job_recovery knows `recover_on_exit_codes`."""

BUCKET_SCHEMES = {"gcp": ("gs", "gcs"), "aws": ("s3", "s3a"), "azure": ("az", "abfs", "abfss")}
"""Cloud -> the bucket URL schemes its VMs reach with their own identity (service
account, instance role, managed identity)."""

CLOUD_NAMES = {"gcp": "GCP", "aws": "AWS", "azure": "Azure"}

VM_PREEMPTED = 3
"""`real run`'s exit status after a cloud notice with the state durable (real/cli.py)."""

SET_BY_LAUNCH = {
    "out": "`real launch` chooses the run directory on each VM; leave it out",
    "ckpt_dir": "`real launch` puts the checkpoints and log in BUCKET/NAME: give --bucket (and --name) instead",
    "notice": "`real launch` takes the notices from the cloud named by --cloud; leave it out",
    "resume": "the task resumes by itself on every VM after the first, and launching the same --name again "
              "continues the run; leave it out",
}
"""`real run` options that `real launch` sets itself: refused when given."""
REFUSED = {
    "pattern": "on a Spot VM the cloud preempts the run; injected preemptions would come on top: leave it out",
    "rate": "it belongs to --interrupts, and on a Spot VM the cloud preempts the run: leave it out",
    "trace": "it belongs to --interrupts trace, and on a Spot VM the cloud preempts the run: leave it out",
}
RESUMED_WITH = ("metadata_url", "notice_poll_s", "quiet")
"""Options `real run --resume` takes afresh on each VM (the rest come from the bucket's run.json)."""

_UNSET_OUT = "<set by real launch>"
_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
_GPU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(:[1-9][0-9]*)?$")
_REGION = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class LaunchError(ValueError):
    """Launch options that cannot work, said in one line; `option` names the culprit (None: a usage error)."""

    def __init__(self, message: str, option: str | None = None):
        super().__init__(message)
        self.option = option


@dataclass
class Launch:
    """What the task is made of (checked by `plan`)."""

    cloud: str
    gpu: str
    ckpt_dir: str
    """The run's folder in the bucket: BUCKET/NAME."""
    name: str
    workdir: Path
    new_args: list[str]
    """The user's `real run` options, as given (first VM only)."""
    resume_args: list[str]
    """Those of them a `--resume` takes afresh."""
    region: str | None = None
    max_restarts_on_errors: int = 0
    warnings: list[str] = field(default_factory=list)


def project_root() -> Path | None:
    """The source tree `real` runs from, if it is one (setup.cfg beside it): the task's workdir."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "setup.cfg").is_file() else None


def check_bucket(cloud: str, bucket: str, cross_cloud: bool = False) -> tuple[str, str | None]:
    """(the bucket URL, normalised; a warning or None). Refuses local paths and, unless
    `cross_cloud`, a bucket of another cloud than the VM's."""
    from .storage import StorageError, normalise, scheme

    s = scheme(bucket)
    if s in ("", "file"):
        raise LaunchError(f"{bucket} is a local path: a Spot VM's disk goes with the VM, so the checkpoints and "
                          f"log must be in a bucket ({BUCKET_SCHEMES[cloud][0]}://BUCKET/PATH)", "--bucket")
    try:
        url = normalise(bucket)
    except StorageError as exc:
        raise LaunchError(str(exc), "--bucket") from None
    if s in BUCKET_SCHEMES[cloud]:
        return url, None
    owner = next(c for c, schemes in BUCKET_SCHEMES.items() if s in schemes)
    message = (f"{bucket} is {CLOUD_NAMES[owner]} storage and the VMs run on {CLOUD_NAMES[cloud]}: they reach it "
               f"only with {CLOUD_NAMES[owner]} credentials, which the task does not carry (pass them with sky jobs "
               f"launch --env/--secret), and every checkpoint leaves the cloud (egress is billed)")
    if not cross_cloud:
        raise LaunchError(f"{message}; use {BUCKET_SCHEMES[cloud][0]}://BUCKET/PATH, or add --cross-cloud-bucket",
                          "--bucket")
    return url, message


def check_run_options(tokens: list[str], run_command) -> tuple[list[str], list[str]]:
    """Check the `real run` options passed through with `run_command`'s own parser.

    Returns (all of them, those a `--resume` takes afresh), as given. Raises a
    click error for an unknown option or a bad value, LaunchError for an option
    that `real launch` sets itself or that cannot work on a Spot VM.
    """
    import click
    from click.core import ParameterSource

    ctx = run_command.make_context("real run", ["--out", _UNSET_OUT, *tokens])  # the parser needs an --out

    def given(name: str) -> bool:
        if name == "out":
            return str(ctx.params["out"]) != _UNSET_OUT
        return ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE

    for name, why in SET_BY_LAUNCH.items():
        if given(name):
            raise LaunchError(why, "--" + name.replace("_", "-"))
    for name, why in REFUSED.items():
        if given(name) and not (name == "pattern" and ctx.params[name] == "none"):
            flag = "--interrupts" if name == "pattern" else "--" + name
            raise LaunchError(why, flag)
    if ctx.params["epochs"] is None:
        raise LaunchError("Missing `real run` option --epochs N (how many epochs the run trains); `real launch` "
                          "passes `real run` options on")
    if ctx.params["dataset"] == "cifar100" and not ctx.params["download"] and not given("data_root"):
        raise LaunchError("a new VM has no CIFAR-100: add --download (fetched on each VM into --data-root), "
                          "--data-root DIR where the VM image holds it, or --dataset synthetic")
    resume = []
    for param in run_command.params:
        if param.name not in RESUMED_WITH or not given(param.name):
            continue
        flag = max(param.opts, key=len)
        resume += [flag] if isinstance(param, click.Option) and param.is_flag else [flag, str(ctx.params[param.name])]
    return list(tokens), resume


def plan(cloud: str, gpu: str, bucket: str, tokens: list[str], run_command, name: str | None = None,
         region: str | None = None, workdir: str | Path | None = None, max_restarts_on_errors: int = 0,
         cross_cloud: bool = False) -> Launch:
    """Check everything `real launch` was given and return what the task is made of."""
    if cloud not in BUCKET_SCHEMES:
        raise LaunchError(f"unknown cloud {cloud!r}; use {', '.join(BUCKET_SCHEMES)}", "--cloud")
    if not _GPU.match(gpu or ""):
        raise LaunchError(f"{gpu!r} is not a GPU as SkyPilot names them: NAME or NAME:COUNT, e.g. L4 or A100:8",
                          "--gpu")
    if region is not None and not _REGION.match(region):
        raise LaunchError(f"{region!r} is not a region name, e.g. us-central1", "--region")
    name = name or f"spotsim-{uuid.uuid4().hex[:8]}"
    if not _NAME.match(name):
        raise LaunchError(f"{name!r}: a run name is lower-case letters, digits and '-', starts with a letter, "
                          f"at most 63 characters (it names the job and the run's folder in the bucket)", "--name")
    if workdir is None:
        root = project_root()
        if root is None:
            raise LaunchError("this spotsim is installed, not a source tree: give --workdir, the spotsim source "
                              "folder that SkyPilot copies to each VM", "--workdir")
    else:
        root = Path(workdir).expanduser().resolve()
        if not (root / "setup.cfg").is_file():
            raise LaunchError(f"{workdir} is not the spotsim source folder (no setup.cfg)", "--workdir")
    url, warning = check_bucket(cloud, bucket, cross_cloud)
    new_args, resume_args = check_run_options(tokens, run_command)
    return Launch(cloud=cloud, gpu=gpu, ckpt_dir=f"{url}/{name}", name=name, workdir=root, new_args=new_args,
                  resume_args=resume_args, region=region, max_restarts_on_errors=max_restarts_on_errors,
                  warnings=[warning] if warning else [])


def run_script(launch: Launch) -> str:
    """The task's `run`: start the run on the first VM, resume it on every later one."""
    q = shlex.quote
    notice = ["--notice", launch.cloud, "--ckpt-dir", '"$CKPT_DIR"', "--out", '"$OUT"']
    new = " ".join(["real", "run", *notice, *map(q, launch.new_args)])
    resume = " ".join(["real", "run", "--resume", *notice, *map(q, launch.resume_args)])
    return "\n".join([
        f"CKPT_DIR={q(launch.ckpt_dir)}",
        f'OUT="$HOME/spotsim-runs/{launch.name}"',
        'STATE=$(python -m real.launch state "$CKPT_DIR") || exit $?',
        'case "$STATE" in',
        f"  new) exec {new} ;;",
        f"  resume) exec {resume} ;;",
        '  done) echo "the run in $CKPT_DIR is complete: nothing left to train"; exit 0 ;;',
        '  *) echo "unexpected run state: $STATE" >&2; exit 1 ;;',
        "esac",
        "",
    ])


def task(launch: Launch) -> dict:
    """The SkyPilot managed-job task, as the YAML's mapping."""
    resources = {
        "infra": launch.cloud + (f"/{launch.region}" if launch.region else ""),
        "accelerators": launch.gpu,
        "use_spot": True,
        "job_recovery": {"max_restarts_on_errors": launch.max_restarts_on_errors,
                         "recover_on_exit_codes": [VM_PREEMPTED]},
    }
    return {
        "name": launch.name,
        "resources": resources,
        "workdir": str(launch.workdir),
        "setup": 'python -m pip install -e ".[real,cloud]"\n',
        "run": run_script(launch),
    }


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper, value: str):
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


def to_yaml(launch: Launch) -> str:
    """The task YAML, with a header saying what wrote it and how to launch it."""
    header = (f"# SkyPilot managed job written by `real launch` (spotsim): run {launch.name} on {launch.cloud} Spot "
              f"VMs,\n# checkpoints and log in {launch.ckpt_dir}.\n"
              f"# Launch: sky jobs launch THIS_FILE -y    (SkyPilot >= {MIN_SKYPILOT}: {SKY_EXTRA})\n"
              f"# A preempted VM is replaced by SkyPilot and the run resumes from the bucket; exit status "
              f"{VM_PREEMPTED} is\n# `real run` leaving a VM the cloud is ending (recovered), any other failure "
              f"is restarted at most\n# max_restarts_on_errors times.\n")
    return header + yaml.dump(task(launch), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000)


def find_sky() -> str | None:
    """The `sky` command: on PATH, or beside this Python (a virtual environment not activated)."""
    found = shutil.which("sky")
    if found:
        return found
    beside = Path(sys.executable).parent / "sky"
    return str(beside) if beside.is_file() else None


def run_state(location: str) -> str:
    """Where the run kept at `location` stands: 'new' (nothing there), 'done' (its log says every
    epoch is trained) or 'resume' (anything else: `real run --resume` continues it, or says why not)."""
    from spotsim.errors import EventLogError

    from .history import read_history
    from .storage import EVENTS, Location, holds_run

    if not holds_run(location):
        return "new"
    log = Location(location).read(EVENTS)
    if not log:
        return "resume"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / EVENTS
        path.write_bytes(log[:log.rfind(b"\n") + 1])
        try:
            return "done" if read_history(path).completed else "resume"
        except EventLogError:
            return "resume"


def main(argv: list[str] | None = None) -> int:
    """`python -m real.launch state URL`: print new, resume or done (the task's run command asks)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] != "state":
        sys.stderr.write("usage: python -m real.launch state CKPT_DIR\n")
        return 2
    from .storage import StorageError, one_line

    try:
        sys.stdout.write(run_state(argv[1]) + "\n")
    except StorageError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    except Exception as exc:  # noqa: BLE001  (the store's own errors: no permission, unreachable)
        sys.stderr.write(f"{argv[1]}: cannot read it: {one_line(exc)}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
