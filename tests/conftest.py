"""Shared test helpers: scenarios from --set strings, paths of test data and traces."""
from __future__ import annotations

from pathlib import Path

import pytest

from spotsim.config import load_scenario

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SHARED_TRACES = ROOT.parent / "shared" / "traces"


def scenario(*sets: str, files=()):
    """A scenario from the built-in defaults plus `key=value` overrides."""
    return load_scenario(list(files), list(sets))


def shared_trace(relative: str) -> Path:
    """A file of ../shared/traces, or skip the test when that folder is absent."""
    path = SHARED_TRACES / relative
    if not path.exists():
        pytest.skip(f"../shared/traces/{relative} is absent (a clone of the project alone lacks ../shared)")
    return path
