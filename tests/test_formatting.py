"""gridlstm/formatting.py on its own: exact CSV cells that round-trip, people's digits, escaped tables."""
from __future__ import annotations

import csv
import io
import math
import re

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from gridlstm.formatting import csv_cell, csv_text, markdown_table, show, sig


def test_csv_cell_by_hand():
    assert [csv_cell(v) for v in (None, math.nan, True, np.bool_(False), 3, "rnn", 0.1, np.float64(2.5))] == [
        "", "", "yes", "no", "3", "rnn", "0.1", "2.5"]
    assert csv_cell(np.float32(0.1)) == "0.10000000149011612"  # the float32's exact value, not 0.1
    assert csv_cell(math.inf) == "inf" and csv_cell(-0.0) == "-0.0"


@given(st.floats(allow_nan=False))
def test_csv_cell_round_trips_every_float(x):
    assert float(csv_cell(x)) == x and math.copysign(1, float(csv_cell(x))) == math.copysign(1, x)


def test_sig_by_hand():
    assert sig(1234.5678) == "1235" and sig(0.000123456, 3) == "0.000123" and sig(2.0) == "2"
    assert sig(None) == "" and sig(None, blank="—") == "—" and sig(math.nan) == "" and sig(np.float32(math.inf)) == ""
    assert sig(math.inf, show_nonfinite=True) == "inf" and sig(math.nan, show_nonfinite=True) == "nan"
    assert sig(7) == "7" and sig("text") == "text"  # not a float: as it is


@given(st.lists(st.fixed_dictionaries({"a": st.text(), "b": st.floats(allow_nan=False), "c": st.booleans()}),
                max_size=5))
def test_csv_text_round_trips_through_the_csv_module(rows):
    back = list(csv.DictReader(io.StringIO(csv_text(rows, ["a", "b", "c"]), newline="")))
    sent = [r["a"].replace("\r\n", "\n").replace("\r", "\n") for r in rows]  # a CR is written as a newline
    assert [r["a"] for r in back] == sent  # commas, quotes, newlines survive
    assert [float(r["b"]) for r in back] == [r["b"] for r in rows]
    assert [r["c"] for r in back] == ["yes" if r["c"] else "no" for r in rows]


def test_csv_text_header_and_missing_keys():
    assert csv_text([{"x": 1}], ["x", "y"]) == "x,y\n1,\n"
    assert csv_text([{"x": 1, "z": 9}], ["x"], header=False) == "1\n"


def _cells(line: str) -> list[str]:
    """A GitHub table row split on its unescaped pipes, the escapes undone."""
    inner = line.strip()[1:-1]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner)]


def test_markdown_table_by_hand():
    text = markdown_table(["kind", "n"], [["rnn", "1"], ["a|b", "22"]], right=[False, True])
    assert text == "| kind | n |\n|---|---:|\n| rnn | 1 |\n| a\\|b | 22 |\n"


@given(st.lists(st.lists(st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=8)
                         .map(str.strip), min_size=2, max_size=2), max_size=4))
def test_markdown_table_cells_round_trip(rows):
    lines = markdown_table(["a|b", "c"], rows).splitlines()
    assert len(lines) == 2 + len(rows)  # one line per row: nothing in a cell breaks the table
    assert _cells(lines[0]) == ["a|b", "c"]
    assert [_cells(line) for line in lines[2:]] == [[c.strip() for c in row] for row in rows]


def test_a_newline_in_a_cell_stays_in_its_row():
    lines = markdown_table(["x"], [["two\nlines"]]).splitlines()
    assert len(lines) == 3 and _cells(lines[2]) == ["two lines"]


def test_show_writes_values_as_yaml_does():
    assert [show(v) for v in (True, False, None, 0.001, 3, "rnn")] == ["true", "false", "null", "0.001", "3", "rnn"]
