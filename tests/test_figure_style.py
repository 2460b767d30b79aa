"""Figures fit for a paper, read back from the figure objects: a colour-blind-safe colour family per
kind with shades and markers apart, curves clipped at FLT_MIN with the underflow marked, titles
naming the task's own parameter, legends naming only what differs and only options the model has,
per-panel y limits where depths differ by decades."""
from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import numpy as np
import pytest
from click.testing import CliRunner

from gridlstm.cli.main import cli
from gridlstm.plots.depth import study_figure
from gridlstm.plots.figures import make_figures
from gridlstm.results.collect import load_runs

FLT_MIN = np.finfo(np.float32).tiny
# Okabe & Ito (2008), "Color Universal Design": the eight colours distinguishable with every common
# colour-vision deficiency (typed here from the published table, independent of the code)
OKABE_ITO = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"}


def measured(out: Path, *overrides: str) -> Path:
    result = CliRunner().invoke(cli, ["gradcheck", "configs/default.yaml", "model.hidden=6", "train.batch_size=4",
                                      *overrides, "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("style")
    small = ["task.length=10"]
    return {
        "lstm": measured(root / "lstm", "model=lstm", *small),
        "grid1": measured(root / "grid1", *small),
        "grid2": measured(root / "grid2", "model.variant=paper", *small),
        "grid3": measured(root / "grid3", "model.tied=true", *small),
        "rnn_long": measured(root / "rnn_long", "model=rnn", "task.length=400", "model.init=default"),
        "addition": measured(root / "addition", "task=addition", "model=lstm", "task.length=3"),
        "d2": measured(root / "d2", "model=rnn", "model.layers=2", *small),
        "d2_lstm": measured(root / "d2_lstm", "model=lstm", "model.layers=2", *small),
        "d12": measured(root / "d12", "model=rnn", "model.layers=12", *small),
    }


def curves(fig):
    return [line for ax in fig.axes for line in ax.get_lines() if line.get_gid() == "curve"]


def test_kind_colours_are_colour_blind_safe_and_runs_of_a_kind_differ_by_shade_and_marker(folders):
    runs = load_runs([str(folders[k]) for k in ("lstm", "grid1", "grid2", "grid3")])
    [fig] = make_figures(runs, "gradients")
    lines = curves(fig)
    assert len(lines) == 4
    colours = [mpl.colors.to_hex(line.get_color()).upper() for line in lines]
    assert colours[0] == "#0072B2" and colours[0] in OKABE_ITO  # a lone lstm: its kind's own colour
    grids = [np.array(mpl.colors.to_rgb(c)) for c in colours[1:]]
    for a in range(3):
        assert grids[a][1] >= grids[a][0] and grids[a][1] >= grids[a][2] - 0.1  # a green family
        for b in range(a):
            assert np.abs(grids[a] - grids[b]).max() > 0.12  # shades far apart
    markers = [line.get_marker() for line in lines[1:]]
    assert len(set(markers)) == 3 and "None" not in markers


def test_legends_name_what_differs_and_only_options_the_model_has(folders):
    runs = load_runs([str(folders[k]) for k in ("lstm", "grid1", "grid2")])
    [fig] = make_figures(runs, "gradients")
    labels = [line.get_label() for line in curves(fig)]
    assert "variant=" not in labels[0] and labels[0].startswith("kind=lstm")
    assert "variant=memory_input" in labels[1] and "variant=paper" in labels[2]
    assert not any("at_steps" in x or "name=" in x for x in labels)


def test_curves_stop_at_flt_min_and_the_underflow_is_marked(folders):
    [fig] = make_figures(load_runs([str(folders["rnn_long"])]), "gradients")
    [ax] = [a for a in fig.axes if a.get_lines()]
    [line] = curves(fig)
    y = np.asarray(line.get_ydata(), dtype=float)
    assert np.isnan(y).any() and np.nanmin(y) >= FLT_MIN  # nothing drawn below FLT_MIN
    assert [m for m in ax.get_lines() if m.get_gid() == "underflow"]


def test_titles_name_the_tasks_own_parameter(folders):
    [fig] = make_figures(load_runs([str(folders["addition"])]), "gradients")
    title = fig.axes[0].get_title()
    assert "addition, k = 3 digits" in title and "T = 3" not in title
    [fig] = make_figures(load_runs([str(folders["grid1"])]), "gradients")
    assert "adding, T = 10" in fig.axes[0].get_title()


def test_depth_panels_get_their_own_y_range(folders):
    fig = study_figure(load_runs([str(folders["d2"]), str(folders["d12"])]))
    panels = [ax for ax in fig.axes if ax.get_title().startswith("D = ")]
    assert [ax.get_title() for ax in panels] == ["D = 2", "D = 12"]
    (lo2, hi2), (lo12, hi12) = (ax.get_ylim() for ax in panels)
    data = [np.concatenate([np.asarray(line.get_ydata(), float) for line in ax.get_lines()
                            if line.get_gid() == "curve"]) for ax in panels]
    for (lo, hi), y in zip(((lo2, hi2), (lo12, hi12)), data, strict=True):
        y = y[np.isfinite(y)]
        assert lo <= y.min() and y.max() <= hi
        assert np.log10(hi / lo) < np.log10(y.max() / y.min()) + 2  # fitted to its own data
    assert (lo2, hi2) != (lo12, hi12)
    assert "each panel its own y range" in fig._suptitle.get_text()


def test_depth_panel_legends_name_the_model_not_what_the_panel_shares(folders):
    fig = study_figure(load_runs([str(folders["d2"]), str(folders["d2_lstm"]), str(folders["d12"])]))
    [panel] = [ax for ax in fig.axes if ax.get_title() == "D = 2"]
    labels = [line.get_label() for line in panel.get_lines() if line.get_gid() == "curve"]
    assert labels and {x.split(":")[0] for x in labels} == {"rnn", "lstm"}, labels  # no D=2, no T=10
