"""Numbers and tables as text: the one place that decides how a cell is written.

    csv_cell   exact: '' for missing/NaN, yes/no for booleans, the shortest round-trip repr of a float
    sig        for people: ``digits`` significant digits, ``blank`` for missing values
    csv_text   rows of dicts → CSV with exact cells
    markdown_table  headers + rows of strings → a GitHub table ('|' in a cell escaped)
    show       a config value as YAML writes it: true, null, 0.001, rnn (sweep ids and tables)
"""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np


def csv_cell(x: Any) -> str:
    """CSV/markdown cell: '' for missing, shortest round-trip repr for floats."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (float, np.floating)):
        return repr(float(x))
    return str(x)


def sig(x: Any, digits: int = 4, blank: str = "", show_nonfinite: bool = False) -> str:
    """``x`` to ``digits`` significant digits; ``blank`` for None, and for NaN/±inf too unless
    ``show_nonfinite`` ("nan", "inf" shown as such: a diverged loss is news, not a gap)."""
    if x is None:
        return blank
    if isinstance(x, (float, np.floating)):
        if math.isfinite(x):
            return f"{x:.{digits}g}"
        return str(float(x)) if show_nonfinite else blank
    return str(x)


def csv_text(rows: list[dict[str, Any]], fields: Sequence[str], header: bool = True) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n")
    if header:
        w.writeheader()
    for r in rows:  # a lone CR is not quoted by the csv module and would end the row: a newline is
        w.writerow({k: csv_cell(r.get(k)).replace("\r\n", "\n").replace("\r", "\n") for k in fields})
    return buf.getvalue()


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]],
                   right: Optional[Sequence[bool]] = None) -> str:
    """A GitHub-flavoured table; ``right[i]`` right-aligns column i. A '|' in a header or cell is
    escaped and a line break becomes a space, so every row stays one line of the table."""
    align = ["---:" if r else "---" for r in (right or [False] * len(headers))]
    lines = ["| " + " | ".join(map(_md_cell, headers)) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _md_cell(c: Any) -> str:
    return " ".join(str(c).replace("|", "\\|").splitlines())


def show(v: Any) -> str:
    """A value as it is written in YAML: ``true``, ``null``, ``0.001``, ``rnn``."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return "null" if v is None else str(v)
