"""Fixtures shared across test modules: built once per session, read (never changed) by the tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from .plot_runs import make_runs


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory) -> dict[str, Path]:
    """Four tiny trained runs (rnn and grid gradchecked, lstm without gradients, a parity run) in
    one output folder ``out``, shared by the plot and report tests."""
    out = tmp_path_factory.mktemp("runs")
    return {"out": out, **make_runs(out)}
