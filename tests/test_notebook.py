"""The break-even notebook executes headless on small settings, into a temporary copy, and leaves the
project's files as they were."""
from __future__ import annotations

import hashlib

import pytest

from .conftest import ROOT

NOTEBOOK = ROOT / "notebooks" / "breakeven.ipynb"
WATCHED = ("notebooks", "results", "scenarios", "docs")
"""Folders the notebook reads from or could write into (the full run refreshes results/validation/)."""
SKIPPED_PARTS = {".ipynb_checkpoints", "__pycache__"}


def _snapshot() -> dict[str, str]:
    """Path -> content hash of every file under WATCHED (tracked or not)."""
    out = {}
    for top in WATCHED:
        for p in sorted((ROOT / top).rglob("*")):
            if p.is_file() and not SKIPPED_PARTS & set(p.parts):
                out[str(p.relative_to(ROOT))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_breakeven_notebook_executes_without_touching_the_project(monkeypatch, tmp_path):
    """notebooks/breakeven.ipynb runs top to bottom (SPOTSIM_NB_SMALL=1), prints the answer, writes its
    sweeps under SPOTSIM_NB_OUT, and leaves every file under notebooks/, results/, scenarios/ and docs/
    byte for byte as it was; the executed copy goes to a temporary folder."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    out = tmp_path / "sweep"
    monkeypatch.setenv("SPOTSIM_NB_SMALL", "1")
    monkeypatch.setenv("SPOTSIM_NB_OUT", str(out))
    before = _snapshot()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=240, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    nbformat.write(nb, tmp_path / NOTEBOOK.name)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "In cost, Spot" in text and "In time, Spot" in text
    for folder in (out, tmp_path / "sweep-study-job"):
        assert (folder / "breakeven.csv").is_file() and (folder / "summary.csv").is_file()
    after = _snapshot()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert changed == [], f"executing the notebook changed project files: {changed}"
