"""Files the benchmark writes stay what their writer makes of their own data (no hand edits):
the auto schedule table (benchmarks/schedule_table.py)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import schedule_table as writer  # noqa: E402

from gridlstm.nn import schedule_table  # noqa: E402


def test_auto_table_is_the_fastest_measured_order_per_kind():
    m = schedule_table.MEASURED
    assert schedule_table.AUTO == writer.choose(m) and schedule_table.PROBE == writer.choose(m.get("probe", {}))
    for kind, order in schedule_table.AUTO.items():
        other = next(o for o in writer.ORDERS if o != order)
        assert sum(r[order] < r[other] for r in m[kind].values()) >= 1  # it wins somewhere
    assert writer.TABLE.read_text() == writer.source(m)  # the file is exactly what bench.py writes


def test_writer_derives_the_table_from_bench_json(tmp_path):
    rows = [{"name": n, "min_ms": ms} for n, ms in [("nn.RNN", 10.0), ("rnn layerwise", 12.0),
                                                        ("rnn wavefront", 8.0), ("nn.LSTM", 10.0),
                                                        ("lstm layerwise", 11.0), ("lstm wavefront", 20.0)]]
    results = {"date": "d", "shapes": [{"B": 1, "T": 2, "H": 3, "D": 4, "rows": rows}]}
    m = writer.measured(results)
    assert m["rnn"] == {"1,2,3,4": {"layerwise": 1.2, "wavefront": 0.8}} and "grid" not in m
    assert writer.choose(m) == {"lstm": "layerwise", "rnn": "wavefront"}
    path = writer.write(results, tmp_path / "table.py")  # the generated module imports
    spec = importlib.util.spec_from_file_location("table", path)
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    assert table.AUTO == {"lstm": "layerwise", "rnn": "wavefront"} and table.MEASURED == m


def test_performance_page_is_generated_from_the_benchmark_json():
    import json

    import perf_doc

    results = json.loads(perf_doc.RESULTS.read_text())
    loaded = json.loads(perf_doc.TRAIN_LOADED.read_text())
    assert perf_doc.PAGE.read_text() == perf_doc.page(results, loaded)
    # the numbers come from the JSON: another measurement gives another page
    row = results["shapes"][0]["rows"][0]
    row["median_ms"] += 1000.0
    assert f"| {row['name']} | {row['median_ms']:.1f} |" in perf_doc.page(results, loaded)
    assert f"{loaded['ratio']:.2f}×" in perf_doc.page(results, loaded)
