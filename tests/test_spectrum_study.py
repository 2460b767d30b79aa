"""gridlstm study spectrum at toy scale: every entry measured at init and after training, the
table's numbers the same as the gradcheck files it came from, the figure a real PNG; a bad study
file is a one-line error."""
from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner

from gridlstm.cli.main import cli

TOY = """
name: toy-spectrum
train_steps: 3
entries:
  - {name: rnn, axis: time, config: %(c)s/adding_rnn.yaml, set: [task.length=12]}
  - {name: gru, axis: time, config: %(c)s/adding_lstm.yaml, set: [model=gru, task.length=12]}
  - {name: grid paper tied D=3, axis: depth, config: %(c)s/parity_grid.yaml, set: [model.layers=3]}
"""
SMALL = ["model.hidden=4", "train.batch_size=4", "train.eval_batches=1", "train.eval_every=3"]


def test_study_spectrum_at_toy_scale(tmp_path):
    from pathlib import Path

    from matplotlib.image import imread

    study = tmp_path / "toy.yaml"
    study.write_text(TOY % {"c": Path("configs").resolve()})
    res = CliRunner().invoke(cli, ["study", "spectrum", str(study), *SMALL, "--k", "3", "--batch", "4",
                                   "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    folder = Path(res.output.strip().splitlines()[-1])
    rows = list(csv.DictReader(open(folder / "spectrum.csv")))
    assert [(r["entry"], r["stage"], r["step"]) for r in rows] == [
        ("rnn", "init", "0"), ("rnn", "trained", "3"), ("gru", "init", "0"), ("gru", "trained", "3"),
        ("grid paper tied D=3", "init", "0"), ("grid paper tied D=3", "trained", "3")]
    for r in rows[:4]:  # each row is what that run's own gradcheck files say
        summary = list(csv.DictReader(open(folder / "runs" / r["run"] / "gradients" / "summary.csv")))
        top = max((s for s in summary if s["state"] == "h"), key=lambda s: int(s["layer"]))
        assert float(r["predicted_slope"]) == pytest.approx(float(top["predicted_slope"]))
        assert float(r["measured_slope"]) == pytest.approx(float(top["slope_decades_per_step"]))
        assert r["measured_slope_last_half"]
    grid = rows[-1]
    depth = list(csv.DictReader(open(folder / "runs" / grid["run"] / "gradients" / "depth.csv")))
    hd = next(d for d in depth if d["state"] == "h_depth")
    assert float(grid["predicted_decades"]) == pytest.approx(float(hd["predicted_decades"]))
    assert 1 <= float(grid["directions_1e-6"]) <= 8
    assert rows[1]["eval_loss"] and not rows[0]["eval_loss"]
    assert grid["predicted_slope"] == ""  # parity given whole: T = 1, no map along time
    md = (folder / "spectrum.md").read_text()
    assert md.count("\n| ") == 7 and "λ₁/ln10" in md
    assert imread(folder / "spectrum.png").shape[1] > 1000


def test_study_spectrum_bad_file_is_one_line(tmp_path):
    study = tmp_path / "bad.yaml"
    study.write_text("name: x\nentries:\n  - {name: a, axis: sideways, config: nowhere.yaml}\n")
    res = CliRunner().invoke(cli, ["study", "spectrum", str(study), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert "axis 'sideways': expected one of time, depth" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "out").exists()
