"""`gridlstm plot` on real runs trained and gradchecked by the test: files, sizes, and what the axes hold
(read back from the figure objects and compared with the run's CSV files, never from pixels)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.colors import LogNorm

from gridlstm.cli.main import cli
from gridlstm.plots.figures import make_figures
from gridlstm.plots.gradients import draw_curve
from gridlstm.plots.style import DPI, new_figure
from gridlstm.results.collect import Curve, load_runs
from gridlstm.runs.run import RunFolder

from .plot_runs import read_csv, seed_norms, within_seeds


@pytest.fixture
def runs(tiny_runs) -> dict[str, Path]:
    return tiny_runs


def plot(*args: str):
    return CliRunner().invoke(cli, ["plot", *map(str, args)])


def png_size(path: Path) -> tuple[int, int]:
    img = mpimg.imread(path)  # (H, W, 4); raises on a file that is not a PNG
    return img.shape[1], img.shape[0]


def expected_size(fig) -> tuple[int, int]:
    w, h = fig.get_size_inches()
    return round(w * DPI), round(h * DPI)


def curves(ax, gid: str = "curve"):
    return [line for line in ax.get_lines() if line.get_gid() == gid]


def test_gradients_figure_one_line_per_run_with_the_csv_numbers(runs, tmp_path):
    out = tmp_path / "rnn_vs_grid.png"
    result = plot(runs["rnn"], runs["grid"], "--what", "gradients", "--out", out)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out)
    [fig] = make_figures(load_runs([str(runs["rnn"]), str(runs["grid"])]), "gradients")
    assert png_size(out) == expected_size(fig) == (1650, 780)
    [ax] = fig.axes
    lines = curves(ax)
    labels = [line.get_label() for line in lines]  # what differs between the two runs
    assert "kind=rnn" in labels[0] and "kind=grid" in labels[1] and "layers=2" in labels[1]
    assert all(label.endswith(", weights of step 10") for label in labels)
    assert ax.get_yscale() == "log" and "steps back" in ax.get_xlabel() and "adding" in ax.get_title()
    for line, run, top in zip(lines, (runs["rnn"], runs["grid"]), (1, 2), strict=True):
        norms = seed_norms(run / "gradients" / "gradients.csv", "h", top)  # t -> every seed's norm
        x, y = line.get_xdata(), line.get_ydata()
        got = {12 - int(s): v for s, v in zip(x, y, strict=True)}  # steps back s = T - t
        assert got.keys() == norms.keys()
        assert all(within_seeds(got[t], v) for t, v in norms.items())  # the exact centre: a hand-made case
    assert len(ax.collections) == 2  # one min–max band per run (2 seeds each)
    assert fig.legends and fig.legends[0].get_texts()  # the legend sits outside the axes


def test_gradients_of_the_input_and_a_memory_state(runs, tmp_path):
    [fig] = make_figures(load_runs([str(runs["grid"])]), "gradients", state="c", layer=1)
    norms = seed_norms(runs["grid"] / "gradients" / "gradients.csv", "c", 1)
    [line] = curves(fig.axes[0])
    got = {12 - int(s): v for s, v in zip(line.get_xdata(), line.get_ydata(), strict=True)}
    assert got.keys() == norms.keys() and all(within_seeds(got[t], v) for t, v in norms.items())
    result = plot(runs["rnn"], "--what", "gradients", "--state", "x", "--x", "timestep",
                  "--out", tmp_path / "x.svg")
    assert result.exit_code == 0, result.output
    assert b"<svg" in (tmp_path / "x.svg").read_bytes()[:2000]


def test_dpi_sets_the_pixel_size(runs, tmp_path):
    result = plot(runs["rnn"], "--dpi", "100", "--out", tmp_path / "small.png")
    assert result.exit_code == 0, result.output
    [fig] = make_figures([RunFolder.read(runs["rnn"])], "gradients")
    w, h = fig.get_size_inches()
    assert png_size(tmp_path / "small.png") == (round(w * 100), round(h * 100))


def test_underflow_marker_only_past_the_first_nonzero_value():
    fig = new_figure(6, 4)
    ax = fig.add_subplot()
    ax.set_yscale("log")
    # steps back 0: structural zero (no path to the loss); 3 and 4: underflow after decaying values.
    mean = np.array([0.0, 1.0, 1e-20, 0.0, 0.0])
    curve = Curve(t=np.arange(5, 0, -1), mid=mean, lo=mean, hi=mean, seeds=1, step=0)
    _, band, zero = draw_curve(ax, np.arange(5), curve, "red", "rnn")
    assert zero and not band
    [marker] = curves(ax, "underflow")
    assert list(marker.get_xdata()) == [3]
    decaying = np.array([0.0, 1.0, 0.5, 0.2, 0.1])  # only the structural zero: no marker
    _, _, zero = draw_curve(ax, np.arange(5), Curve(np.arange(5, 0, -1), decaying, decaying, decaying,
                                                    1, 0), "blue", "lstm")
    assert not zero and len(curves(ax, "underflow")) == 1


def test_heatmap_one_panel_per_state_kind_log_colours(runs):
    result = plot(runs["grid"], "--what", "heatmap")
    assert result.exit_code == 0, result.output
    path = runs["grid"] / "plots" / "heatmap.png"
    assert result.output.strip() == str(path) and path.is_file()
    [fig] = make_figures([RunFolder.read(runs["grid"])], "heatmap")
    assert png_size(path) == expected_size(fig)
    panels = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title(loc="left") for ax in panels] == [
        "time hidden state h", "time memory c", "depth hidden state h′", "depth memory c′"]
    csv_path = runs["grid"] / "gradients" / "gradients.csv"
    for ax, state in zip(panels, ("h", "c", "h_depth", "c_depth"), strict=True):
        [image] = ax.images
        assert isinstance(image.norm, LogNorm)
        data = np.ma.filled(image.get_array(), 0.0)  # (D, T), zeros masked in the figure
        assert data.shape == (2, 12)
        for d in (1, 2):
            norms = list(seed_norms(csv_path, state, d).values())  # t = 1..12
            assert all(within_seeds(v or np.nan, n) for v, n in zip(data[d - 1], norms, strict=True))
    colorbar = [ax for ax in fig.axes if ax not in panels]
    # the label matches the ticks: they are norms 10^k on a log scale, not decades
    assert len(colorbar) == 1 and "log scale" in colorbar[0].get_ylabel() and "decades" not in colorbar[0].get_ylabel()
    fig.canvas.draw()
    ticks = [t.get_text() for t in colorbar[0].get_yticklabels() if t.get_text()]
    assert ticks and all("10^" in t for t in ticks), ticks


def test_loss_figure_curves_chance_and_threshold(runs, tmp_path):
    result = plot(runs["rnn"], runs["grid"], runs["lstm"], "--what", "loss")
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip())  # compare/ in the runs' common parent, not in a run folder
    assert path.parent == runs["out"] / "compare" and path.name.startswith("loss-3runs-")
    [fig] = make_figures(load_runs([str(runs[k]) for k in ("rnn", "grid", "lstm")]), "loss")
    assert png_size(path) == expected_size(fig)
    [ax] = fig.axes  # adding: the metric is the MSE itself, one panel
    assert len(curves(ax, "eval")) == 3 and len(curves(ax, "train")) == 3
    [chance] = curves(ax, "chance")
    assert chance.get_ydata()[0] == pytest.approx(1 / 6) and chance.get_linestyle() == "--"
    [target] = curves(ax, "target")
    assert target.get_ydata()[0] == pytest.approx(0.01)
    rows = read_csv(runs["rnn"] / "metrics.csv")
    evals = [r for r in rows if r["split"] == "eval"]
    eval_line = curves(ax, "eval")[0]
    assert list(eval_line.get_xdata()) == [int(r["step"]) for r in evals]
    assert list(eval_line.get_ydata()) == pytest.approx([float(r["loss"]) for r in evals])
    result = plot(runs["parity"], "--what", "loss", "--out", tmp_path / "parity.pdf")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "parity.pdf").read_bytes()[:4] == b"%PDF"
    [fig] = make_figures([RunFolder.read(runs["parity"])], "loss")
    loss_ax, metric_ax = fig.axes  # cross-entropy and accuracy panels
    assert curves(loss_ax, "chance")[0].get_ydata()[0] == pytest.approx(np.log(2))
    assert curves(metric_ax, "target")[0].get_ydata()[0] == pytest.approx(0.99)


def test_profiles_one_line_per_recorded_step(runs):
    profiles = runs["rnn"] / "gradients" / "profiles.csv"
    steps = sorted({int(r["step"]) for r in read_csv(profiles)})
    assert steps == [0, 5, 10]  # gradients.at_steps=[0,5] and the end of training
    result = plot(runs["rnn"], "--what", "profiles")
    assert result.exit_code == 0, result.output
    path = runs["rnn"] / "plots" / "profiles.png"
    assert result.output.strip() == str(path)
    [fig] = make_figures([RunFolder.read(runs["rnn"])], "profiles")
    assert png_size(path) == expected_size(fig)
    lines = curves(fig.axes[0])
    assert [line.get_label() for line in lines] == [f"step {s}" for s in steps]
    for line, step in zip(lines, steps, strict=True):
        norms = seed_norms(profiles, "h", 1, step)  # one seed per recorded step: the values themselves
        assert all(len(v) == 1 for v in norms.values())
        assert sorted(line.get_ydata()) == pytest.approx(sorted(v[0] for v in norms.values()), rel=1e-12)


@pytest.mark.parametrize("case, needle", [
    ("not_a_run", "is not a run folder"),
    ("no_gradients", "gridlstm gradcheck"),
    ("mixed_tasks", "mix tasks (adding, parity)"),
    ("bad_suffix", "use one of .png, .svg, .pdf"),
    ("bad_state", "--state c: "),
    ("many_to_one_file", "one figure per run"),
    ("bad_dpi", "--dpi 5: expected 30..600"),
])
def test_errors_are_one_line_and_exit_2(runs, tmp_path, case, needle):
    args = {
        "not_a_run": [tmp_path],
        "no_gradients": [runs["lstm"], "--what", "gradients"],
        "mixed_tasks": [runs["rnn"], runs["parity"], "--what", "loss"],
        "bad_suffix": [runs["rnn"], "--out", tmp_path / "x.jpg"],
        "bad_state": [runs["rnn"], "--state", "c"],
        "many_to_one_file": [runs["rnn"], runs["grid"], "--what", "heatmap", "--out", tmp_path / "h.png"],
        "bad_dpi": [runs["rnn"], "--dpi", "5"],
    }[case]
    result = plot(*args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and needle in lines[0], result.output


def test_a_hand_written_profile_draws_the_median_and_the_range_of_its_seeds(tmp_path):
    """An independent oracle: three seeds of chosen norms, 1, 4 and 2 × 10^-t, so the line must be
    2 × 10^-t and the band 1 to 4 × 10^-t; the second seed's exact 0 at t = 1 moves the median there
    to the first seed's 1e-1."""
    folder = tmp_path / "gc"
    result = CliRunner().invoke(cli, ["gradcheck", "configs/adding_rnn.yaml", "task.length=4", "model.hidden=3",
                                      "--batch", "2", "--out", str(folder), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    factors = {0: 1.0, 1: 4.0, 2: 2.0}
    rows = ["step,seed,state,layer,t,norm"]
    for seed, f in factors.items():
        for t in range(1, 5):
            norm = 0.0 if (seed, t) == (1, 1) else f * 10.0 ** -t
            rows += [f"0,{seed},h,1,{t},{norm!r}", f"0,{seed},x,0,{t},{norm!r}"]
    (folder / "gradients.csv").write_text("\n".join(rows) + "\n")
    [fig] = make_figures([RunFolder.read(folder)], "gradients")
    [line] = curves(fig.axes[0])
    got = dict(zip((4 - np.asarray(line.get_xdata())).tolist(), line.get_ydata(), strict=True))  # s = T - t
    assert got == pytest.approx({1: 1e-1, 2: 2e-2, 3: 2e-3, 4: 2e-4}, rel=1e-12)
    [band] = fig.axes[0].collections  # min–max; at t = 1 the minimum is an exact 0, no band on a log axis
    ys = np.concatenate([path.vertices[:, 1] for path in band.get_paths()])
    assert ys.min() == pytest.approx(1e-4, rel=1e-12) and ys.max() == pytest.approx(4e-2, rel=1e-12)
