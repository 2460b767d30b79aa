"""Every gradcheck carries the prediction (docs/gradients.md, "Lyapunov spectrum"): without
--spectrum the top exponent λ₁ along time and depth beside the measured decay, for every model
kind; --spectrum 0 gives the bare measurement, the same numbers with the prediction columns empty."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from gridlstm.cli.main import cli

KINDS = [("rnn", "memory_input"), ("lstm", "memory_input"), ("gru", "memory_input"), ("grid", "memory_input"),
         ("grid", "paper")]


def read(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(open(path)))


def headers(text: str, start: str) -> str:
    """The header line of the decay table: the terminal's (start "┃ state") or summary.md's ("| state")."""
    return next(line for line in text.splitlines() if line.startswith(start))


def gradcheck(out: Path, kind: str, variant: str, *extra: str):
    args = ["gradcheck", "configs/default.yaml", f"model.kind={kind}", "model.hidden=6", "model.layers=2",
            "task.length=12", "--batch", "4", "--out", str(out), *extra]
    if kind == "grid":
        args.insert(3, f"model.variant={variant}")
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    return res


@pytest.mark.parametrize("kind,variant", KINDS)
def test_default_gradcheck_predicts_and_the_off_switch_leaves_the_measurement(tmp_path, kind, variant):
    on, off = tmp_path / "on", tmp_path / "off"
    res = gradcheck(on, kind, variant)
    spec = read(on / "spectrum.csv")
    assert [r["index"] for r in spec if r["axis"] == "time"] == ["1"]       # K = 1: the top exponent only
    from_layer = {int(r["index"]): float(r["decades"]) for r in spec if r["axis"] == "time_from_layer"}
    meta = json.loads((on / "meta.json").read_text())["spectrum"]
    assert (meta["k"], meta["examples"]) == (1, 2) and spec[0]["examples"] == "2"   # the first 2 of the batch of 4
    summary = read(on / "summary.csv")
    top_h = max((r for r in summary if r["state"] == "h"), key=lambda r: int(r["layer"]))
    for r in summary:  # a carried state of layer d (and x: layer 1) decays at λ₁(layers ≥ d)/ln 10
        if r["state"] in ("x", "h", "c", "m"):
            predicted = float(r["predicted_slope"])
            assert math.isfinite(predicted) and predicted < 0
            assert predicted == pytest.approx(from_layer[max(int(r["layer"]), 1)])
    depth = [r for r in read(on / "depth.csv") if int(r["top_layer"]) == 2]
    assert depth and all(float(r["predicted_decades"]) == pytest.approx(-float(next(
        s["decades"] for s in spec if s["axis"] == "depth"))) for r in depth)  # D − 1 = 1 layer
    assert "λ₁/ln10" in headers(res.output, "┃ state") and f"{float(top_h['predicted_slope']):+.3g}" in res.output
    assert "λ₁/ln10" in headers((on / "summary.md").read_text(), "| state")

    res = gradcheck(off, kind, variant, "--spectrum", "0")
    assert not (off / "spectrum.csv").exists() and "spectrum" not in json.loads((off / "meta.json").read_text())
    assert "λ₁/ln10" not in headers(res.output, "┃ state")
    assert "λ₁/ln10" not in headers((off / "summary.md").read_text(), "| state")
    assert "measured/predicted" not in res.output
    bare = read(off / "summary.csv")
    assert all(r["predicted_slope"] == r["slope_over_predicted"] == "" for r in bare)
    assert all(r["predicted_decades"] == "" for r in read(off / "depth.csv"))
    # the prediction does not touch the measurement: the same gradients and decay numbers
    assert (off / "gradients.csv").read_text() == (on / "gradients.csv").read_text()
    assert [r["slope_decades_per_step"] for r in bare] == [r["slope_decades_per_step"] for r in summary]


def test_report_shows_the_default_prediction(tmp_path):
    out = tmp_path / "g"
    gradcheck(out, "lstm", "memory_input")
    res = CliRunner().invoke(cli, ["report", str(out), "--format", "csv"])
    assert res.exit_code == 0, res.output
    rep = next(csv.DictReader(res.output.splitlines()))
    top_h = max((r for r in read(out / "summary.csv") if r["state"] == "h"), key=lambda r: int(r["layer"]))
    h = next(r for r in read(out / "depth.csv") if r["state"] == "h")
    assert float(rep["grad_predicted"]) == pytest.approx(float(top_h["predicted_slope"]), rel=1e-3)
    assert float(rep["depth_predicted_per_layer"]) == pytest.approx(float(h["predicted_per_layer"]), rel=1e-3)
    res = CliRunner().invoke(cli, ["report", str(out)])  # the terminal view: measured beside predicted
    assert res.exit_code == 0, res.output
    head = next(line for line in res.output.splitlines() if "predicted λ₁/ln10" in line)
    assert head.index("h slope") < head.index("predicted λ₁/ln10") and "depth predicted" in head
    assert f"{float(rep['grad_predicted']):.3g}" in res.output
    bare = tmp_path / "bare"
    gradcheck(bare, "lstm", "memory_input", "--spectrum", "0")
    res = CliRunner().invoke(cli, ["report", str(bare)])
    assert res.exit_code == 0 and "predicted" not in res.output


def test_the_spectrum_figure_of_the_default_prediction_has_one_integer_index(tmp_path):
    from gridlstm.plots.spectrum import spectrum_figure
    from gridlstm.results.collect import load_runs

    out = tmp_path / "g"
    gradcheck(out, "grid", "memory_input")
    ax = spectrum_figure(load_runs([str(out)])).axes[0]
    assert list(ax.get_xticks()) == [1] and ax.get_xlim() == (0.5, 1.5)
    assert {tuple(line.get_xdata()) for line in ax.get_lines() if len(line.get_xdata()) and line.get_marker() == "o"} == {(1,)}
