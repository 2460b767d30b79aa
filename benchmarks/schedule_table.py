"""Writes gridlstm/nn/schedule_table.py (the order ``model.schedule: auto`` runs per cell kind) from
a benchmark run: per kind, the exact order whose training step was fastest, by the geometric mean
over the shapes of its time over nn.* of the same shape. Times are each row's *fastest* repeat
(``min_ms``): on a shared machine a burst of other work lands on some repeats, and rows that run
the same model can differ by 2× in their medians, far less in their minima.
``bench.py --write-table`` calls it."""
from __future__ import annotations

import math
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "gridlstm" / "nn" / "schedule_table.py"
ORDERS = ("layerwise", "wavefront")
KINDS = {"rnn": "nn.RNN", "lstm": "nn.LSTM", "grid": "nn.LSTM"}  # the bench rows "<kind> <order>"
PROBE_ROWS = {"grid": "gradcheck", "lstm": "lstm gradcheck"}      # and "<row> <order>" for the probe

HEAD = '''"""The order ``model.schedule: auto`` runs for an unprobed pass (training, evaluation), per cell
kind: the exact order the benchmark measured fastest. Written by ``benchmarks/bench.py
--write-table`` (``make bench``) from its run; edit by rerunning it, not by hand.

Every order gives the same numbers (float64 tests in tests/test_schedule.py), so this table
changes only the time a step takes. A kind the benchmark does not measure runs ``DEFAULT``.
"""

DEFAULT = "layerwise"
'''


def measured(results: dict) -> dict:
    """{"date": ..., kind: {"B,T,H,D": {order: time / nn.* time}}} from bench.py's JSON."""
    out: dict = {"date": results["date"]}
    for kind, ref in KINDS.items():
        for shape in results["shapes"]:
            by = {r["name"]: r["min_ms"] for r in shape["rows"]}
            key = ",".join(str(shape[k]) for k in "BTHD")
            if all(f"{kind} {o}" in by for o in ORDERS):
                out.setdefault(kind, {})[key] = {o: round(by[f"{kind} {o}"] / by[ref], 3) for o in ORDERS}
            row = PROBE_ROWS.get(kind)
            if row and all(f"{row} {o}" in by for o in ORDERS):  # probe time / the kind's nn.* step
                out.setdefault("probe", {}).setdefault(kind, {})[key] = {
                    o: round(by[f"{row} {o}"] / by[ref], 3) for o in ORDERS}
    return out


def choose(m: dict) -> dict[str, str]:
    """kind -> the order with the lowest geometric-mean ratio over the measured shapes."""
    def score(kind: str, order: str) -> float:
        return sum(math.log(r[order]) for r in m[kind].values())
    return {kind: min(ORDERS, key=lambda o: score(kind, o)) for kind in sorted(m) if kind not in ("date", "probe")}


def source(m: dict) -> str:
    auto = choose(m)
    lines = [HEAD, "# kind -> the order auto runs unprobed", "AUTO = {"]
    lines += [f"    {kind!r}: {order!r},".replace("'", '"') for kind, order in auto.items()]
    probe = choose(m.get("probe", {}))
    lines += ["}", "", "# kind -> the order auto runs under a gradient probe (the wavefront for a kind not listed)",
              "PROBE = {", *[f'    "{kind}": "{order}",' for kind, order in probe.items()], "}", "", "# where AUTO comes from: per kind, the fastest training-step time of each order over nn.*'s of the",
              '# same shape, at each benchmark shape "B,T,H,D" ("probe": a gradient profile over the same)', "MEASURED = {", f'    "date": {m["date"]!r},'.replace("'", '"')]
    lines += [f'    "{kind}": {_shapes(m[kind])},' for kind in auto]
    if probe:
        lines += ['    "probe": {', *[f'        "{kind}": {_shapes(m["probe"][kind])},' for kind in probe], "    },"]
    return "\n".join([*lines, "}", ""])


def _shapes(per_shape: dict) -> str:
    """{"B,T,H,D": {order: ratio}} on one line."""
    return "{" + ", ".join(f'"{shape}": {{' + ", ".join(f'"{o}": {v}' for o, v in r.items()) + "}"
                           for shape, r in per_shape.items()) + "}"


def write(results: dict, path: Path = TABLE) -> Path:
    path.write_text(source(measured(results)))
    return path
