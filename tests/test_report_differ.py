"""The report's default view shows what differs between runs and fits a 100-column terminal."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from gridlstm.cli.main import cli
from gridlstm.cli.report import rich_report
from gridlstm.results.collect import load_runs
from gridlstm.results.report import KEYS, collect_table

from .conftest import LRS


@pytest.fixture
def sweep(twelve_runs) -> Path:
    return twelve_runs


def test_rich_report_of_12_runs_fits_100_columns_and_shows_what_differs(sweep):
    table = collect_table(load_runs([str(sweep)]))
    assert set(table.config_keys) == {"seed", "train.lr"}
    console = Console(width=100, record=True, file=io.StringIO(), color_system=None)
    console.print(rich_report(table))
    text = console.export_text()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert "…" not in text
    header = next(line for line in lines if " lr " in f" {line} ")
    assert "seed" in header
    rows = [line.split() for line in lines if line.lstrip().startswith("runs/")]
    assert len(rows) == 12
    for i, cells in enumerate(sorted(rows)):
        assert cells[0] == f"runs/{i:04d}"
        assert str(i // 4) in cells[1:3] and f"{LRS[i % 4]:.4g}" in cells[1:3]
    assert "shared:" in text and "task.name=adding" in text
    assert "model.kind" not in header  # shared keys are not columns


def test_machine_formats_keep_every_column_and_columns_chooses(sweep):
    result = CliRunner().invoke(cli, ["report", str(sweep), "--format", "csv"])
    assert result.exit_code == 0, result.output
    header = next(csv.reader(io.StringIO(result.output)))
    assert header[:len(KEYS)] == list(KEYS) and set(header[len(KEYS):]) == {"seed", "train.lr"}
    result = CliRunner().invoke(cli, ["report", str(sweep), "--format", "csv", "--columns",
                                      "train.lr,eval_loss", "--sort", "-train.lr"])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0] == ["train.lr", "eval_loss"] and float(rows[1][0]) == max(LRS)
    result = CliRunner().invoke(cli, ["report", str(sweep), "--columns", "nope"])
    assert result.exit_code != 0 and "--columns nope" in result.output


def test_md_headers_are_unique_and_no_config_key_repeats_a_result_column():
    """train.steps differs: its column is headed train.steps beside the steps run; task.length and
    model.kind differ too, but T and model already show them."""
    from gridlstm.results.columns import SAME_AS_COLUMN
    from gridlstm.results.report import Table

    rows = [{**dict.fromkeys(KEYS), "run": f"r{i}", "status": "completed", "train.steps": s, "task.length": t, "model.kind": k, "train.lr": lr}
            for i, (s, t, k, lr) in enumerate([(10, 5, "rnn", 0.1), (20, 6, "lstm", 0.01)])]
    table = Table(rows, ["train.steps", "task.length", "model.kind", "train.lr"], {})
    headers = [c.header for c in table.all_columns()]
    assert len(headers) == len(set(headers))
    assert "train.steps" in headers and "lr" in headers and "steps" in headers
    assert not {c.key for c in table.all_columns()} & set(SAME_AS_COLUMN)
    view = [c.header for c in table.columns(view=True)]  # the terminal's view keeps what differs
    assert len(view) == len(set(view)) and "kind" in view and "train.steps" in view
def test_an_option_the_cell_does_not_read_never_tells_runs_apart():
    from gridlstm.results.differ import applicable, differing_keys, flatten

    lstm = flatten({"model": {"kind": "lstm", "variant": "memory_input", "nonlinearity": "tanh",
                              "priority": "none", "forget_bias": 1.0, "hidden": 8}})
    grid = flatten({"model": {"kind": "grid", "variant": "paper", "nonlinearity": "relu",
                              "priority": "none", "forget_bias": 1.0, "hidden": 8}})
    assert "model.variant" not in applicable(lstm) and "model.nonlinearity" not in applicable(lstm)
    assert applicable(grid)["model.variant"] == "paper" and "model.nonlinearity" not in applicable(grid)
    # what the grid alone reads differs (it names its value); what neither reads does not
    assert differing_keys([applicable(lstm), applicable(grid)]) == ["model.kind", "model.variant", "model.priority"]
