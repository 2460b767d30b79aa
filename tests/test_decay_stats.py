"""Statistics that mean what they say (docs/gradients.md): how seeds combine, what the memory theory
predicts, and structural zeros told apart from underflow."""
from __future__ import annotations

import math

import numpy as np
import pytest

from gridlstm.probe import decay
from gridlstm.probe.gradcheck import load_source, run_gradcheck

TINY = decay.UNDERFLOW


def test_slope_over_seeds_is_the_mean_of_the_per_seed_slopes():
    """Two seeds decaying at −0.1 and −0.3 decades/step: the summary says −0.2 (the mean of the
    slopes); the old formula, the slope of the arithmetic-mean profile, follows the slow seed."""
    s = np.arange(100)
    per_seed = [10.0 ** (-0.1 * s), 10.0 ** (-0.3 * s)]
    row = decay.summary_row("h", 1, per_seed, TINY, [], top=True, last_step=True)
    assert row["slope_decades_per_step"] == pytest.approx(-0.2)
    assert row["slope_std"] == pytest.approx(np.std([-0.1, -0.3], ddof=1))
    old = np.polyfit(s, np.log10(np.mean(per_seed, axis=0)), 1)[0]
    assert old > -0.13  # what the old formula reported
    # the other numbers are those of the same geometric-mean profile 10^(-0.2 s)
    assert row["steps_to_1e-3"] == 16 and row["steps_to_1e-6"] == 31
    assert row["first_last_ratio"] == pytest.approx(10.0 ** (-0.2 * 99))


def test_structural_zero_is_not_underflow():
    no_path = np.array([0.5, 0.0, 0.0, 0.0])       # top layer's h_depth: reaches the loss at s = 0 only
    never = np.zeros(5)                              # top layer's c_depth
    gradual = np.concatenate([10.0 ** (-4.0 * np.arange(10)), [0.0, 0.0]])  # falls through FLT_MIN
    a, b, c = (decay.decay_stats(g, TINY) for g in (no_path, never, gradual))
    assert a["structural_zero"] and a["structural_zero_step"] == 1 and a["underflow_step"] is None
    assert a["steps_to_1e-3"] is None
    assert b["structural_zero"] and b["structural_zero_step"] == 0 and b["underflow_step"] is None
    assert not c["structural_zero"] and c["underflow_step"] == 10 and c["structural_zero_step"] is None


def test_grid_top_layer_depth_states_are_marked_structural(tmp_path):
    src = load_source(None, ["model.kind=grid", "model.hidden=6", "model.layers=2", "task.length=12",
                             "train.batch_size=4"])
    rows = {(r["state"], r["layer"]): r for r in run_gradcheck(src, seeds=2, device="cpu").summary}
    assert rows[("c_depth", 2)]["structural_zero"] and rows[("c_depth", 2)]["underflow_step"] is None
    assert rows[("h_depth", 2)]["structural_zero_step"] == 1
    assert not rows[("c", 1)]["structural_zero"] and not rows[("h", 2)]["structural_zero"]


@pytest.mark.parametrize("forget_bias, old_off", [(0.0, 1.5), (2.0, 2.2)])
def test_memory_theory_tracks_the_measured_slope(forget_bias, old_off):
    """LSTM at init, T = 200: the slowest unit's mean log10 f is within 1.5× of the measured slope
    (measured, H = 32, seed 0, batch 16: −0.220 predicted vs −0.201 measured at forget bias 0, −0.0291 vs −0.0268 at 2), while
    log10(mean f), the old theory, is 1.6× and 2.3× too steep (−0.322, −0.0624)."""
    src = load_source(None, ["model.kind=lstm", "model.hidden=32", "model.layers=1", "task.name=adding",
                             "task.length=200", f"model.forget_bias={forget_bias}", "train.batch_size=16"])
    c = next(r for r in run_gradcheck(src, seeds=1, device="cpu").summary if r["state"] == "c")
    measured, new, old = c["slope_decades_per_step"], c["theory_slope"], c["log10_mean_forget"]
    assert measured < 0 and 1.0 <= new / measured <= 1.5
    assert old / measured >= old_off
    assert math.isclose(old, math.log10(c["mean_forget"]))


def test_figure_marks_underflow_as_the_table_counts_it():
    """One meaning of underflow: g < FLT_MIN (a subnormal too, not only an exact 0), and no marker
    for a structural zero (the table's 'structurally 0')."""
    import matplotlib
    matplotlib.use("Agg")
    from gridlstm.plots.gradients import draw_curve
    from gridlstm.plots.style import new_figure
    from gridlstm.results.collect import Curve

    ax = new_figure(6, 4).add_subplot()
    ax.set_yscale("log")
    subnormal = np.array([1.0, 1e-10, 1e-30, 1e-39, 1e-41])  # by steps back; never exactly 0
    assert decay.decay_stats(subnormal, TINY)["underflow_step"] == 3
    _, _, marked = draw_curve(ax, np.arange(5), Curve(np.arange(5, 0, -1), subnormal, subnormal, subnormal, 1, 0),
                              "red", "rnn")
    assert marked and [list(m.get_xdata()) for m in ax.lines if m.get_gid() == "underflow"] == [[3]]
    no_path = np.array([0.5, 0.0, 0.0, 0.0, 0.0])  # the top layer's h′: reaches the loss at s = 0 only
    _, _, marked = draw_curve(ax, np.arange(5), Curve(np.arange(5, 0, -1), no_path, no_path, no_path, 1, 0),
                              "blue", "grid")
    assert not marked
