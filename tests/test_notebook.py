"""The break-even notebook executes headless on small settings."""
from __future__ import annotations

import os

import pytest

from .conftest import ROOT

NOTEBOOK = ROOT / "notebooks" / "breakeven.ipynb"


def test_breakeven_notebook_executes(monkeypatch):
    """notebooks/breakeven.ipynb runs top to bottom (SPOTSIM_NB_SMALL=1) and prints the answer."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("SPOTSIM_NB_SMALL", "1")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=240, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "In cost, Spot" in text and "In time, Spot" in text
    assert os.environ["SPOTSIM_NB_SMALL"] == "1"
