"""Depth profiles (probe/depth.py, results/depth.py, plots/depth.py), gradient-only folders (gradcheck --out DIR) in
plot and report, and the depth study (gridlstm study depth) at toy scale."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gridlstm.cli.main import cli
from gridlstm.plots.depth import draw_profile
from gridlstm.plots.figures import make_figures
from gridlstm.plots.style import new_figure
from gridlstm.probe.depth import FLT_MIN, DepthProfile, depth_decay, depth_profile
from gridlstm.results.collect import GradientTable, load_runs

from .plot_runs import read_csv

ROOT = Path(__file__).resolve().parent.parent
TINY = ["task.length=6", "model.hidden=4", "model.layers=3", "train.batch_size=4"]


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def gradcheck_out(out: Path, *overrides: str, seeds: int = 2) -> Path:
    result = invoke("gradcheck", "configs/default.yaml", *TINY, *overrides, "--seeds", seeds,
                    "--out", out, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == str(out)
    return out


def scored_norms(path: Path, state: str) -> dict[int, list[float]]:
    """layer -> g[T, layer] of every seed, straight from gradients.csv."""
    rows = [r for r in read_csv(path) if r["state"] == state]
    T = max(int(r["t"]) for r in rows)
    out: dict[int, list[float]] = {}
    for r in rows:
        if int(r["t"]) == T:
            out.setdefault(int(r["layer"]), []).append(float(r["norm"]))
    return out


def table(values: dict[str, np.ndarray]) -> GradientTable:
    """A GradientTable from {state: (S, D, T) array}."""
    cols: dict[str, list] = {k: [] for k in ("step", "seed", "state", "layer", "t", "norm")}
    for state, g in values.items():
        for (s, d, t), v in np.ndenumerate(g):
            for k, x in zip(cols, (0, s, state, d + 1, t + 1, v), strict=True):
                cols[k].append(x)
    return GradientTable(*(np.array(cols[k]) for k in cols))


def test_structural_zero_underflow_and_decades_from_a_table():
    g = np.zeros((2, 5, 3))                    # (S, D, T)
    g[:, :, -1] = [[1e-40, 1e-20, 1e-10, 1.0, 0.0], [1e-39, 1e-20, 1e-10, 1.0, 0.0]]
    g[:, :, 0] = 0.5                           # a path to the loss at t = 1 only besides T
    prof = depth_profile(table({"c_depth": g}), "c_depth")
    assert prof.t == 3 and list(prof.layers) == [1, 2, 3, 4, 5]
    assert list(prof.structural) == [False, False, False, False, True]   # top layer: no path
    assert prof.top == 3 and list(prof.underflow) == [True, False, False, False, False]
    dec = depth_decay(prof)
    assert dec.top_layer == 4 and dec.underflow == 2
    expect = -math.log10(FLT_MIN)              # both seeds counted down to FLT_MIN: a lower bound
    assert dec.decades == pytest.approx(expect) and dec.per_layer == pytest.approx(expect / 3)
    mean = depth_profile(table({"c_depth": g}), "c_depth", over="mean")   # t = 2 never reached
    assert mean.t is None and mean.values[0, 3] == pytest.approx((0.5 + 1.0) / 2)
    none = depth_profile(table({"h": np.zeros((1, 3, 2))}), "h")
    assert none.structural.all() and none.top is None and depth_decay(none).decades is None


def test_draw_profile_marks_underflow_and_structural_zeros_apart():
    fig = new_figure(6, 4)
    ax = fig.add_subplot()
    ax.set_yscale("log")
    values = np.array([[1e-39, 1e-3, 1.0, 0.0]])
    prof = DepthProfile("c", np.arange(1, 5), values, 4, 0)
    band, underflow, structural = draw_profile(ax, prof, "blue", "lstm: c")
    assert not band and underflow and structural
    marks = {line.get_gid(): line for line in ax.get_lines()}
    assert list(marks["underflow"].get_xdata()) == [1]
    assert list(marks["structural"].get_xdata()) == [4]
    y = marks["curve"].get_ydata()
    assert np.isnan(y[0]) and np.isnan(y[3]) and y[1] == pytest.approx(1e-3)


def test_gradcheck_out_folder_is_read_by_plot_depth_and_report(tmp_path):
    lstm = gradcheck_out(tmp_path / "gc-lstm", "model.kind=lstm")
    grid = gradcheck_out(tmp_path / "gc-grid", "model.variant=paper")
    assert not (lstm / "config.yaml").exists()   # gradients.csv, summary.csv/md, depth/spectrum.csv, meta.json only
    out = tmp_path / "depth.png"
    result = invoke("plot", lstm, grid, "--what", "depth", "--out", out, "--mean-t")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out) and out.stat().st_size > 10_000
    [fig] = make_figures(load_runs([str(lstm), str(grid)]), "depth")
    [ax] = [a for a in fig.axes if a.get_lines()]
    assert ax.get_yscale() == "log" and "layer" in ax.get_xlabel()
    curves = [line for line in ax.get_lines() if line.get_gid() == "curve"]
    labels = [line.get_label() for line in curves]
    # the states each cell sends up (an lstm's c stays in its layer); its memories dashed
    assert labels == ["lstm: h", "grid paper: h′", "grid paper: m′"]  # what the two runs share (D, T) left out
    assert [line.get_linestyle() for line in curves] == ["-", "-", "--"]
    for line, (folder, state) in zip(curves, [(lstm, "h"), (grid, "h_depth"), (grid, "m_depth")], strict=True):
        norms = scored_norms(folder / "gradients.csv", state)
        assert list(line.get_xdata()) == [1, 2, 3]
        assert list(line.get_ydata()) == pytest.approx([float(np.median(norms[d])) for d in (1, 2, 3)])
    # the paper grid's time h has no path to the loss at t = T: structurally zero, not underflow
    [fig] = make_figures(load_runs([str(grid)]), "depth", state="h")
    ax = fig.axes[0]
    assert [line.get_gid() for line in ax.get_lines() if line.get_gid() != "curve"] == ["structural"]
    result = invoke("report", tmp_path, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(result.output.splitlines()))
    assert [r["model"] for r in rows] == ["grid", "lstm"] and rows[0]["status"] == "untrained"
    for row, folder, state in zip(rows, (grid, lstm), ("h_depth", "h"), strict=True):
        norms = scored_norms(folder / "gradients.csv", state)
        per_seed = [math.log10(a / b) for a, b in zip(norms[3], norms[1], strict=True)]
        assert float(row["depth_decades_per_layer"]) == pytest.approx(np.mean(per_seed) / 2)


def test_report_depth_column_is_blank_without_gradients(tiny_runs):
    result = invoke("report", tiny_runs["lstm"], tiny_runs["rnn"], "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(result.output.splitlines()))
    assert rows[0]["depth_decades_per_layer"] == ""
    assert rows[1]["depth_decades_per_layer"] == ""  # the rnn has D = 1: no depth to lose


def test_depth_study_at_toy_scale(tmp_path):
    study = tmp_path / "toy.yaml"
    text = (ROOT / "configs" / "studies" / "depth.yaml").read_text()
    text = text.replace("base: ../default.yaml", f"base: {ROOT / 'configs' / 'default.yaml'}")
    text = text.replace("[4, 16, 64]", "[2, 3]").replace("model.hidden: 32", "model.hidden: 4")
    study.write_text(text.replace("task.length: 20", "task.length: 5"))
    result = invoke("study", "depth", study, "train.batch_size=4", "--seeds", "1", "--out", tmp_path,
                    "--device", "cpu")
    assert result.exit_code == 0, result.output
    folder = Path(result.output.strip().splitlines()[-1])
    assert folder.parent == tmp_path / "studies" / "depth"
    assert {p.name for p in folder.iterdir()} >= {"depth.png", "depth.csv", "depth.md", "study.yaml", "runs"}
    assert len(list((folder / "runs").iterdir())) == 10   # 2 depths x 5 models
    rows = read_csv(folder / "depth.csv")
    models = {(r["model"], r["D"]) for r in rows}
    assert models == {(m, d) for m in ("rnn", "lstm", "grid memory_input", "grid paper", "grid paper tied")
                      for d in ("2", "3")}
    assert sorted(r["state"] for r in rows if r["model"] == "grid memory_input" and r["D"] == "3") == ["c_depth", "h_depth"]
    for r in rows:  # each row is the decay of the run's own gradients.csv
        norms = scored_norms(folder / "runs" / r["run"] / "gradients" / "gradients.csv", r["state"])
        top = int(r["top_layer"])
        assert float(r["decades"]) == pytest.approx(math.log10(norms[top][0] / norms[1][0]))
    assert "| lstm | 3 | h |" in (folder / "depth.md").read_text()
    for run in (folder / "runs").iterdir():  # the study keeps gradcheck's default prediction (λ₁ only)
        spec = read_csv(run / "gradients" / "spectrum.csv")
        assert [r["index"] for r in spec if r["axis"] == "depth"] == ["1"]
        layers = json.loads((run / "gradients" / "meta.json").read_text())["D"]
        top = [r for r in read_csv(run / "gradients" / "depth.csv") if r["top_layer"] == str(layers)]
        assert top and all(r["predicted_decades"] != "" for r in top)
    result = invoke("report", folder, "--format", "csv")   # the study's runs are ordinary folders
    assert result.exit_code == 0 and len(result.output.strip().splitlines()) == 11
