"""A comparison figure of 12 runs: distinct labels by what differs, a legend inside the figure, and a
default path outside every run folder."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gridlstm.cli.main import cli
from gridlstm.plots.figures import make_figures
from gridlstm.results.collect import load_runs

from .conftest import LRS


@pytest.mark.parametrize("what", ["loss", "gradients"])
def test_12_runs_have_12_distinct_labels_and_a_legend_inside_the_figure(twelve_runs, what):
    [fig] = make_figures(load_runs([str(twelve_runs)]), what)
    fig.canvas.draw()
    [legend] = fig.legends
    texts = [t.get_text() for t in legend.get_texts() if t.get_text()]
    runs = [t for t in texts if t.startswith("seed=")]  # the differing keys, in config order
    assert len(runs) == 12 == len(set(runs))
    for i in range(12):
        assert any(t.split(",")[0] == f"seed={i // 4} lr={LRS[i % 4]:.4g}" for t in runs), i
    box, page = legend.get_window_extent(), fig.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1
    axes = fig.axes[0].get_window_extent()
    assert box.y1 <= axes.y0  # below the data, not over it


def test_comparison_figure_goes_outside_every_run_folder_and_is_printed(twelve_runs):
    result = CliRunner().invoke(cli, ["plot", str(twelve_runs), "--what", "loss"])
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip())
    assert path.is_file() and path.parent == twelve_runs.resolve().parent / "compare"
    assert path.name.startswith("loss-12runs-") and path.suffix == ".png"
