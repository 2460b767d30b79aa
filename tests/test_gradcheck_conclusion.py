"""gradcheck's one-line conclusion names the state that keeps its gradient best and the top layer's h."""
from __future__ import annotations

import math

from click.testing import CliRunner

from gridlstm.cli.main import cli
from gridlstm.probe.gradcheck import conclusion


def row(state, layer, slope, underflow=None):
    return {"state": state, "layer": layer, "slope_decades_per_step": slope, "underflow_step": underflow}


def test_the_flattest_state_along_time_and_the_top_h():
    rows = [row("h", 1, -0.07), row("h", 2, -0.082), row("c", 1, -0.001), row("c", 2, -0.05),
            row("c_depth", 1, 0.5), row("x", 0, 0.9), row("m", 2, math.nan)]  # depth and input: not along time
    assert conclusion(rows, 2) == ("layer 1's memory c keeps its gradient best: it loses 0.001 decades/step; "
                                   "the top layer's h loses 0.082 decades/step")


def test_an_rnn_names_its_one_state_and_where_it_underflows():
    assert conclusion([row("h", 1, -0.5, 90)], 1) == "the hidden state h loses 0.5 decades/step, underflowing 90 steps back"
    assert conclusion([row("h", 1, -0.5), row("h", 2, -0.1)], 2) == (
        "the top layer's hidden state h keeps its gradient best of all states: it loses 0.1 decades/step")
    assert conclusion([row("h", 1, math.nan)], 1) is None


def test_gradcheck_prints_it(tmp_path):
    result = CliRunner().invoke(cli, ["gradcheck", "configs/adding_lstm.yaml", "task.length=12", "model.hidden=8",
                                      "--out", str(tmp_path / "g"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    said = [line for line in result.stderr.splitlines() if "keeps its gradient best" in line]
    assert len(said) == 1 and said[0].endswith("decades/step.") and "top layer's h loses" in said[0]
