"""Execute a notebook in place, in full (SPOTSIM_NB_SMALL unset), as calibrate/refresh.sh does.

    python notebooks/execute.py notebooks/breakeven.ipynb

No execution timing is recorded, so the same inputs give the same bytes.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import nbclient
import nbformat


def execute(path: Path, timeout_s: int = 3600) -> None:
    """Run every cell of the notebook at `path` (kernel in its folder) and write the outputs back."""
    os.environ.pop("SPOTSIM_NB_SMALL", None)
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=timeout_s, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent.resolve())}}).execute()
    nbformat.write(nb, path)


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["notebooks/breakeven.ipynb"]:
        execute(Path(arg))
