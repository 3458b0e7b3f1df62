"""Where and how a sweep runs: the Dask executor against the local one (byte for byte, also with a worker
killed mid-sweep), --resume after interruptions at every phase, the Parquet runs file, and the refusals."""
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotsim import plots
from spotsim import sweep as sw
from spotsim.cli import main
from spotsim.config import load_scenario
from spotsim.executors import dask as dask_executor
from spotsim.results import METRICS

SMALL = ["job.epochs=8", "job.epoch_s=30", "vm.startup_s=30", "checkpoint.every_epochs=2"]
FILES = ("runs.csv", "summary.csv", "breakeven.csv", "sweep.json")
SCENARIO = """\
name: tiny
job: {epochs: 8, epoch_s: 30}
vm: {startup_s: 30}
checkpoint: {every_epochs: 2}
"""
BASE = load_scenario([], SMALL)
CLI_FLAGS = ["--rates", "1,8,40", "--strategies", "fixed,milestone", "--patterns", "poisson,bursty", "-n", "20",
             "--vary", "vm.startup_s=30,90", "--no-plots"]


def spec(scenario=None, **kw) -> sw.SweepSpec:
    """A sweep of 24 grid cells x 20 replications that also expands brackets, re-simulates runs stopped early
    and refines (~1,100 runs, about a second); with 10 replications per chunk every cell takes two chunks.
    The scenario is SMALL, or the file `scenario` (SCENARIO: the same values under another name)."""
    base = load_scenario([str(scenario)]) if scenario else load_scenario([], SMALL)
    return sw.SweepSpec(base, (1.0, 8.0, 40.0), strategies=("fixed", "milestone"),
                        patterns=("poisson", "bursty"), replications=20, vary=(("vm.startup_s", (30, 90)),), **kw)


@pytest.fixture(scope="module", autouse=True)
def small_chunks():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sw, "CHUNK_REPLICATIONS", 10)
        yield


def same_files(ref, out, files=FILES) -> None:
    for name in files:
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name
    assert not (out / sw.PARTIAL).exists()  # a complete sweep leaves no chunks behind


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The sweep run locally in one process, uninterrupted: its folder, each chunk's replications in the
    order they were reported, and where each batch of tasks (grid, expansion, re-simulation, refinement)
    starts (1-based chunk index)."""
    out = tmp_path_factory.mktemp("reference")
    sizes, batches = [], []
    real_new, real_rerun = sw._new_cell_tasks, sw._rerun_tasks

    def new_cell_tasks(s, cells):
        tasks = real_new(s, cells)
        batches.append((cells[0].role, len(sizes) + 1))
        return tasks

    def rerun_tasks(s, runs):
        batches.append(("resimulation", len(sizes) + 1))
        return real_rerun(s, runs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sw, "_new_cell_tasks", new_cell_tasks)
        mp.setattr(sw, "_rerun_tasks", rerun_tasks)
        outcome = sw.run_sweep(spec(), out, jobs=1, progress=lambda n, planned: sizes.append(n))
    kinds = [k for k, _ in batches]
    assert {sw.GRID, sw.EXPANSION, "resimulation", sw.REFINEMENT} <= set(kinds), kinds
    assert outcome.resimulated_runs > 0 and outcome.expanded_rates and outcome.refined_cells
    return out, sizes, batches


def interrupt_at(k: int):
    """A progress callback that presses Ctrl-C once the k-th chunk is in (the way test_sweep does)."""
    seen = [0]

    def progress(n, planned):
        seen[0] += 1
        if seen[0] == k:
            raise KeyboardInterrupt
    return progress


# -- Dask --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed "
                                                            "(pip install 'spotsim[dask]')")
    import dask
    with dask.config.set({"distributed.admin.low-level-log-length": 100_000}):  # every transition of the module
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                           dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False},
                                           silence_logs=logging.ERROR)
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


def test_dask_writes_the_same_bytes_as_the_local_executor(reference, dask_client, tmp_path):
    """On a LocalCluster of 2 workers every output file is byte-identical to the local executor's."""
    ref, sizes, _ = reference
    done = []
    outcome = sw.run_sweep(spec(), tmp_path, executor=dask_executor.DaskExecutor(client=dask_client),
                           progress=lambda n, planned: done.append(n))
    assert done == sizes  # the same chunks, reported in the same order
    assert outcome.reused_runs == 0
    same_files(ref, tmp_path)


def test_a_dask_worker_killed_mid_sweep_changes_no_byte(reference, dask_client, tmp_path):
    """SIGKILL to a worker process once the first chunk is in (the others in flight or done and not yet
    fetched, some on that worker): its chunks are computed again elsewhere and the files do not change."""
    ref, _, _ = reference
    before = dask_client.run(os.getpid)
    assert len(before) == 2
    killed = []

    def progress(n, planned):
        if not killed:
            pid = min(before.values())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    t0 = time.time()
    sw.run_sweep(spec(), tmp_path, executor=dask_executor.DaskExecutor(client=dask_client), progress=progress)
    assert killed
    same_files(ref, tmp_path)
    dask_client.wait_for_workers(1, timeout=60)
    assert killed[0] not in dask_client.run(os.getpid).values()  # the worker was lost, not spared
    started = [t.key for t in list(dask_client.cluster.scheduler.transition_log)
               if t.timestamp >= t0 and str(t.key).startswith("spotsim-chunk") and t.finish == "processing"]
    assert len(started) > len(set(started))  # chunks it held were started again on another worker


def test_a_dask_sweep_interrupted_resumes_locally(reference, dask_client, tmp_path):
    """The executor is not part of a sweep: one interrupted on Dask continues on the local executor."""
    ref, sizes, _ = reference
    with pytest.raises(sw.SweepInterrupted):
        sw.run_sweep(spec(), tmp_path, executor=dask_executor.DaskExecutor(client=dask_client),
                     progress=interrupt_at(30))
    outcome = sw.run_sweep(spec(), tmp_path, jobs=1, resume=True)
    assert outcome.reused_runs == sum(sizes[:30])
    same_files(ref, tmp_path)


def test_cli_dask_parquet_sweep_matches_the_local_csv_one_and_plots(tmp_path):
    """`--executor dask --jobs 2 --format parquet`: summary and break-even byte-identical to the local CSV
    sweep, runs.parquet holds runs.csv's values, and `spotsim plot` draws the folder."""
    pytest.importorskip("distributed", reason="the dask extra is not installed (pip install 'spotsim[dask]')")
    pytest.importorskip("pyarrow", reason="the parquet extra is not installed (pip install 'spotsim[parquet]')")
    scen = tmp_path / "tiny.yaml"
    scen.write_text(SCENARIO)
    runner = CliRunner()
    flags = ["--rates", "2,30", "--strategies", "fixed", "--patterns", "poisson", "-n", "30", "--no-plots"]
    local = runner.invoke(main, ["sweep", str(scen), *flags, "--jobs", "1", "--out", str(tmp_path / "local")])
    assert local.exit_code == 0, local.output
    result = runner.invoke(main, ["sweep", str(scen), *flags, "--executor", "dask", "--jobs", "2", "--format",
                                  "parquet", "--out", str(tmp_path / "dask")])
    assert result.exit_code == 0, result.output
    assert "Dask LocalCluster of 2 worker process(es)" in result.output
    assert not (tmp_path / "dask" / "runs.csv").exists()
    same_files(tmp_path / "local", tmp_path / "dask", ("summary.csv", "breakeven.csv", "sweep.json"))
    pd.testing.assert_frame_equal(plots.read_runs(tmp_path / "dask"), plots.read_runs(tmp_path / "local"))
    drawn = runner.invoke(main, ["plot", str(tmp_path / "dask")])
    assert drawn.exit_code == 0, drawn.output
    assert (tmp_path / "dask" / "cost_vs_rate.png").is_file()


# -- resume ----------------------------------------------------------------------------------------
POINTS = ("first_chunk", "mid_grid", "last_grid_chunk", "expansion", "resimulation", "refinement", "last_chunk")


def chunk_index(point: str, sizes, batches) -> int:
    """The 1-based chunk after which Ctrl-C is pressed: inside the phase `point` names (first of a phase:
    its first chunk, the cell it belongs to half done)."""
    starts = {}
    for kind, start in batches:
        starts.setdefault(kind, start)
    end_of_grid = min(s for k, s in batches if k != sw.GRID) - 1
    return {"first_chunk": 1, "mid_grid": end_of_grid // 2 + 1, "last_grid_chunk": end_of_grid,
            "expansion": starts[sw.EXPANSION], "resimulation": starts["resimulation"],
            "refinement": starts[sw.REFINEMENT], "last_chunk": len(sizes)}[point]


@pytest.mark.parametrize("point", POINTS)
def test_resume_after_ctrl_c_equals_an_uninterrupted_sweep(reference, tmp_path, point):
    """Ctrl-C after any chunk, in any phase, then --resume: the chunks done are reused (exactly those) and
    every file equals the uninterrupted sweep's byte for byte; a resume may use another worker count."""
    ref, sizes, batches = reference
    k = chunk_index(point, sizes, batches)
    with pytest.raises(sw.SweepInterrupted):
        sw.run_sweep(spec(), tmp_path, jobs=1, progress=interrupt_at(k))
    assert not pd.read_json(tmp_path / "sweep.json", typ="series")["complete"]
    assert (tmp_path / sw.PARTIAL / sw.CHUNKS).is_file()
    outcome = sw.run_sweep(spec(), tmp_path, jobs=2 if point == "mid_grid" else 1, resume=True)
    assert outcome.reused_runs == sum(sizes[:k])
    same_files(ref, tmp_path)


def test_resume_twice_and_after_a_record_cut_short(reference, tmp_path):
    """Interrupted twice (the second time while resuming), and killed in the middle of writing a chunk (the
    log ends in a partial record): the partial record is dropped, its chunk computed again, same bytes."""
    ref, sizes, _ = reference
    with pytest.raises(sw.SweepInterrupted):
        sw.run_sweep(spec(), tmp_path, jobs=1, progress=interrupt_at(20))
    with pytest.raises(sw.SweepInterrupted):
        sw.run_sweep(spec(), tmp_path, jobs=1, resume=True, progress=interrupt_at(60))
    log = tmp_path / sw.PARTIAL / sw.CHUNKS
    data = log.read_bytes()
    last = sw._ChunkStore.scan(log, sw._fingerprint(spec()))[0]
    cut = max(last.values())  # the 60th chunk's record, cut in the middle as a kill -9 would leave it
    log.write_bytes(data[:cut + (len(data) - cut) // 2])
    outcome = sw.run_sweep(spec(), tmp_path, jobs=1, resume=True)
    assert outcome.reused_runs == sum(sizes[:59])
    same_files(ref, tmp_path)


def test_resume_of_a_complete_sweep_changes_nothing(reference, tmp_path):
    """--resume on a complete sweep says so (already_complete) and leaves every file as it is."""
    ref, _, _ = reference
    sw.run_sweep(spec(), tmp_path, jobs=1)
    stamps = {n: (tmp_path / n).stat().st_mtime_ns for n in FILES}
    outcome = sw.run_sweep(spec(), tmp_path, jobs=1, resume=True)
    assert outcome.already_complete and outcome.cells == len(pd.read_csv(tmp_path / "summary.csv"))
    assert {n: (tmp_path / n).stat().st_mtime_ns for n in FILES} == stamps
    same_files(ref, tmp_path)


def test_an_interrupted_sweep_leaves_no_breakeven_of_an_earlier_sweep(reference, tmp_path):
    """A sweep into the folder of a complete one, interrupted: the earlier breakeven.csv is gone (it would be
    drawn against the new summary.csv), and the folder resumes to the same bytes."""
    ref, _, _ = reference
    shutil.copytree(ref, tmp_path / "o")
    with pytest.raises(sw.SweepInterrupted):
        sw.run_sweep(spec(), tmp_path / "o", jobs=1, progress=interrupt_at(2))
    assert not (tmp_path / "o" / "breakeven.csv").exists()
    sw.run_sweep(spec(), tmp_path / "o", jobs=1, resume=True)
    same_files(ref, tmp_path / "o")


def test_cli_resume_after_ctrl_c(reference, tmp_path, monkeypatch):
    """Through the CLI: Ctrl-C says how to continue; the same command with --resume finishes the sweep with
    the files of an uninterrupted one."""
    ref, _, _ = reference
    scen = tmp_path / "tiny.yaml"
    scen.write_text(SCENARIO)
    runner = CliRunner()
    real = sw.run_sweep

    def interrupted(spec, out, jobs=None, progress=None, **kw):
        return real(spec, out, jobs=jobs, progress=interrupt_at(25), **kw)

    monkeypatch.setattr(sw, "run_sweep", interrupted)
    out = tmp_path / "o"
    result = runner.invoke(main, ["sweep", str(scen), *CLI_FLAGS, "--jobs", "1", "--out", str(out)])
    assert result.exit_code == 130 and "the same command with --resume continues it" in result.output
    monkeypatch.setattr(sw, "run_sweep", real)
    result = runner.invoke(main, ["sweep", str(scen), *CLI_FLAGS, "--jobs", "2", "--resume", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "resumed:" in result.output
    for name in ("runs.csv", "summary.csv", "breakeven.csv"):
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name


# -- refusals -----------------------------------------------------------------------------------------
@pytest.fixture
def scenario_file(tmp_path):
    p = tmp_path / "tiny.yaml"
    p.write_text(SCENARIO)
    return p


def one_line_error(result) -> str:
    assert result.exit_code not in (0, 130), result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_resume_on_a_folder_without_a_sweep_is_one_line(scenario_file, tmp_path):
    line = one_line_error(CliRunner().invoke(main, ["sweep", str(scenario_file), *CLI_FLAGS, "--resume", "--out",
                                                    str(tmp_path / "empty")]))
    assert "--resume" in line and "no sweep" in line


def test_resume_with_other_flags_names_each_flag_and_both_values(scenario_file, tmp_path):
    """A --resume whose flags differ from sweep.json is refused before anything runs, naming each flag with
    the value in sweep.json and the value given; the folder is left as it was."""
    out = tmp_path / "o"
    with pytest.raises(sw.SweepInterrupted):
        sw.run_sweep(spec(scenario_file), out, jobs=1, progress=interrupt_at(3))
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    other = [f if f != "20" else "21" for f in CLI_FLAGS]
    line = one_line_error(CliRunner().invoke(main, ["sweep", str(scenario_file), *other, "--seed", "4", "--set",
                                                    "job.epoch_s=31", "--resume", "--out", str(out)]))
    assert "--replications differs (20 in sweep.json, 21 now)" in line
    assert "--seed differs (0 in sweep.json, 4 now)" in line
    assert "SCENARIO/--set differ" in line and "job.epoch_s 30.0 there, 31.0 now" in line
    assert "--rates" not in line and "--vary" not in line
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_resume_refuses_chunks_of_another_sweep(tmp_path):
    """A .partial/ left by another sweep than the sweep.json beside it is not reused."""
    with pytest.raises(sw.SweepInterrupted):
        sw.run_sweep(spec(), tmp_path / "a", jobs=1, progress=interrupt_at(2))
    with pytest.raises(sw.SweepInterrupted):
        sw.run_sweep(spec(seed=9), tmp_path / "b", jobs=1, progress=interrupt_at(2))
    (tmp_path / "a" / "sweep.json").write_bytes((tmp_path / "b" / "sweep.json").read_bytes())
    with pytest.raises(sw.SweepError, match="belongs to another sweep"):
        sw.run_sweep(spec(seed=9), tmp_path / "a", jobs=1, resume=True)


def test_an_unreachable_scheduler_is_one_line_within_the_connect_timeout(scenario_file, tmp_path, monkeypatch):
    """--scheduler at an address where nothing listens: one line naming the flag and the address, after
    the connect timeout, and nothing written into --out."""
    pytest.importorskip("distributed", reason="the dask extra is not installed (pip install 'spotsim[dask]')")
    monkeypatch.setattr(dask_executor, "CONNECT_TIMEOUT_S", 1.0)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    t0 = time.monotonic()
    result = CliRunner().invoke(main, ["sweep", str(scenario_file), *CLI_FLAGS, "--executor", "dask",
                                       "--scheduler", address, "--out", str(tmp_path / "o")])
    waited = time.monotonic() - t0
    line = one_line_error(result)
    assert line.startswith("Error: --scheduler:") and address in line and "within 1 s" in line
    assert waited < 60  # bounded by the timeout (a hang would not return), not a speed requirement
    assert not (tmp_path / "o" / "sweep.json").exists()


def test_dask_executor_without_dask_says_how_to_install(scenario_file, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails as if not installed
    line = one_line_error(CliRunner().invoke(main, ["sweep", str(scenario_file), *CLI_FLAGS, "--executor", "dask",
                                                    "--out", str(tmp_path / "o")]))
    assert "--executor dask" in line and "pip install 'spotsim[dask]'" in line


def test_parquet_without_pyarrow_says_how_to_install(scenario_file, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    line = one_line_error(CliRunner().invoke(main, ["sweep", str(scenario_file), *CLI_FLAGS, "--format", "parquet",
                                                    "--out", str(tmp_path / "o")]))
    assert "--format parquet" in line and "pip install 'spotsim[parquet]'" in line


def test_scheduler_without_the_dask_executor_is_refused(scenario_file, tmp_path):
    line = one_line_error(CliRunner().invoke(main, ["sweep", str(scenario_file), *CLI_FLAGS, "--scheduler",
                                                    "tcp://127.0.0.1:8786", "--out", str(tmp_path / "o")]))
    assert "--scheduler" in line and "--executor dask" in line


# -- Parquet ----------------------------------------------------------------------------------------
def test_parquet_and_csv_sweeps_hold_the_same_runs(reference, tmp_path):
    """--format parquet: runs.parquet holds runs.csv's columns, types and values; the other files are the
    same bytes, and no runs.csv is left (nor a runs.parquet by a later CSV sweep into the folder)."""
    pytest.importorskip("pyarrow", reason="the parquet extra is not installed (pip install 'spotsim[parquet]')")
    ref, _, _ = reference
    sw.run_sweep(spec(), tmp_path, jobs=1, runs_format="parquet")
    assert not (tmp_path / "runs.csv").exists()
    same_files(ref, tmp_path, ("summary.csv", "breakeven.csv", "sweep.json"))
    pd.testing.assert_frame_equal(plots.read_runs(tmp_path), plots.read_runs(ref))
    sw.run_sweep(spec(), tmp_path, jobs=1)
    assert not (tmp_path / "runs.parquet").exists()
    same_files(ref, tmp_path)


INT_METRICS = [k for k in METRICS if k in sw.INT_METRICS]
VARIED = st.one_of(st.lists(st.integers(-10**6, 10**6), min_size=1, max_size=3, unique=True),
                   st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=3, unique=True),
                   st.lists(st.sampled_from(["greedy", "spot_only", "omniscient", "x_y"]), min_size=1, max_size=3,
                            unique=True),
                   st.just([True, False]))


@st.composite
def cells_and_runs(draw):
    values = draw(VARIED)
    rows = []
    n_cells = draw(st.integers(1, 4))
    for i in range(n_cells):
        n = draw(st.integers(1, 6))
        data = np.empty((n, 1 + len(METRICS)))
        data[:, 0] = draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n))
        for j, k in enumerate(METRICS):
            if k in sw.INT_METRICS:
                col = draw(st.lists(st.one_of(st.integers(0, 10**6).map(float), st.just(float("nan"))),
                                    min_size=n, max_size=n))
            else:
                col = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=n,
                                    max_size=n))
            data[:, 1 + j] = col
        limits = np.array(draw(st.lists(st.floats(1.0001, 1e4), min_size=n, max_size=n)))
        cell = sw.Cell(draw(st.sampled_from(["poisson", "bursty"])), draw(st.integers(0, len(values) - 1)),
                       draw(st.floats(1e-3, 1e3)), draw(st.sampled_from(["fixed", "adaptive"])),
                       draw(st.sampled_from([sw.GRID, sw.EXPANSION, sw.REFINEMENT])))
        rows.append((cell, data, limits))
    return values, rows


@given(case=cells_and_runs())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_parquet_and_csv_writers_hold_the_same_values(case, tmp_path):
    """For any runs (NaN counts, infinities, any float) and varied values of any type, runs.parquet read
    back equals runs.csv read back: same columns, same dtypes, same values (split over row groups)."""
    pytest.importorskip("pyarrow", reason="the parquet extra is not installed (pip install 'spotsim[parquet]')")
    values, cells = case
    s = sw.SweepSpec(load_scenario([], SMALL), (1.0,), replications=6, vary=(("policy.name", tuple(values)),))
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    csv_w = sw._CsvRuns(folder / "runs.csv", sw.run_header(s))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sw, "PARQUET_ROWS_PER_GROUP", 5)
        pq_w = sw._ParquetRuns(folder / "runs.parquet", s)
        for cell, data, limits in cells:
            csv_w.add(sw.csv_rows(s, s.combo(cell.vary_index), cell, data, limits))
            pq_w.add(cell, data, limits)
        csv_w.close()
        pq_w.close()
    import pyarrow.parquet as pq
    from_csv = pd.read_csv(folder / "runs.csv", **plots.EXACT_FLOATS)
    from_pq = pq.read_table(folder / "runs.parquet").to_pandas()
    pd.testing.assert_frame_equal(from_pq, from_csv)
    assert list(from_pq.columns) == sw.run_header(s)


@given(sizes=st.lists(st.integers(1, 4), max_size=4))
@settings(max_examples=50, deadline=None)
def test_combo_is_the_combination_at_its_index(sizes):
    """SweepSpec.combo(i), built without the whole product, is combos()[i] for any --vary shape."""
    vary = tuple((f"key{i}", tuple(f"v{i}{j}" for j in range(n))) for i, n in enumerate(sizes))
    s = sw.SweepSpec(BASE, (1.0,), vary=vary)
    assert [s.combo(i) for i in range(len(s.combos()))] == s.combos()


@given(tasks=st.integers(0, 100_000), threads=st.integers(1, 256))
def test_dask_groups_are_bounded_and_leave_every_thread_work(tasks, threads):
    """A Dask task carries 1..MAX_TASKS_PER_SUBMIT chunks, and a phase of many chunks still gives every
    worker thread at least MIN_GROUPS_PER_THREAD groups (none holds a short phase alone)."""
    size = dask_executor.group_size(tasks, threads)
    assert 1 <= size <= dask_executor.MAX_TASKS_PER_SUBMIT
    if size > 1:
        assert -(-tasks // size) >= dask_executor.MIN_GROUPS_PER_THREAD * threads
