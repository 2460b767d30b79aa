"""gridlstm/sweep/results.py on hand-written run folders whose numbers are chosen, so every mean,
standard deviation, success rate and table cell is known in advance."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from gridlstm.config import dump_config
from gridlstm.sweep.results import collect, grouped_csv, mean_std, to_markdown, write_results
from gridlstm.sweep.spec import load_sweep

ROOT = Path(__file__).resolve().parent.parent

# (kind, seed) -> eval loss (MSE, the metric too), solved, the top layer's h slope; None: the run failed
RUNS = {("rnn", 0): (0.1, True, -0.3), ("rnn", 1): (0.2, False, -0.1),
        ("lstm", 0): (0.05, True, None), ("lstm", 1): None}


def _write_run(path: Path, cfg, loss, solved, slope) -> None:
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(dump_config(cfg))
    (path / "meta.json").write_text(json.dumps({"status": "completed"}))
    (path / "summary.json").write_text(json.dumps({
        "status": "completed", "task": "adding", "length": 8, "model": cfg.model.kind, "variant": None,
        "tied": False, "layers": 1, "hidden": 4, "params": 100, "steps": 10, "eval_loss": loss,
        "chance": 1 / 6, "chance_heldout": 0.2, "metric_name": "mse", "eval_metric": loss, "target": 0.01,
        "solved": solved, "wall_seconds": 2.0}))
    if slope is not None:
        (path / "gradients").mkdir()
        (path / "gradients" / "summary.csv").write_text(
            f"state,layer,slope_decades_per_step,first_last_ratio\nh,1,{slope},0.01\n")


@pytest.fixture
def sweep(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(f"name: s\nbase: {ROOT / 'configs' / 'default.yaml'}\n"
                    "config: {model.hidden: 4, model.layers: 1, task.length: 8}\n"
                    "axes: {model.kind: [rnn, lstm], seed: [0, 1]}\n")
    sw = load_sweep(spec)
    folder = tmp_path / "sweep"
    for run in sw.runs:
        numbers = RUNS[(run.values["model.kind"], run.values["seed"])]
        path = folder / "runs" / run.id
        if numbers is None:  # started, then the worker died: a traceback beside an unfinished status
            path.mkdir(parents=True)
            (path / "meta.json").write_text(json.dumps({"status": "running"}))
            (path / "traceback.txt").write_text("Traceback: boom\n")
        else:
            _write_run(path, run.config, *numbers)
    return sw, folder


def test_mean_and_sample_std_by_hand():
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(2 ** 0.5))
    assert mean_std([5.0, None, float("nan")]) == (5.0, None)  # one finite value: no spread
    assert mean_std([]) == (None, None)


def test_grouped_rows_by_hand(sweep):
    sw, folder = sweep
    per_run, grouped = collect(sw, folder)
    assert [(r["model.kind"], r["seed"]) for r in per_run] == [("rnn", "0"), ("rnn", "1"), ("lstm", "0")]
    rnn, lstm = grouped
    assert (rnn["model.kind"], rnn["runs"], rnn["finished"], rnn["failed"]) == ("rnn", 2, 2, 0)
    assert rnn["eval_loss_mean"] == pytest.approx(0.15) and rnn["eval_loss_std"] == pytest.approx(0.1 / 2 ** 0.5)
    assert rnn["grad_slope_mean"] == pytest.approx(-0.2) and rnn["grad_slope_std"] == pytest.approx(0.2 / 2 ** 0.5)
    assert rnn["success_rate"] == 0.5 and rnn["chance"] == pytest.approx(0.2) and rnn["params"] == 100
    assert (lstm["runs"], lstm["finished"], lstm["failed"], lstm["success_rate"]) == (2, 1, 1, 1.0)
    assert lstm["eval_loss_mean"] == pytest.approx(0.05) and lstm["eval_loss_std"] is None
    assert lstm["grad_slope_mean"] is None  # no gradients measured


def test_the_tables_show_the_hand_computed_numbers(sweep):
    sw, folder = sweep
    _, grouped = collect(sw, folder)
    md = to_markdown(sw, grouped).splitlines()
    assert md[0] == "| model.kind | runs | params | eval loss | chance | metric | success | h slope (dec/step) | wall (s) |"
    assert md[2] == "| rnn | 2/2 | 100 | 0.15 ± 0.071 | 0.2 | mse 0.15 ± 0.071 | 50% | -0.2 ± 0.14 | 2 |"
    assert md[3] == "| lstm | 1/2 (1 failed) | 100 | 0.05 | 0.2 | mse 0.05 | 100% |  | 2 |"
    rows = list(csv.DictReader(io.StringIO(grouped_csv(sw, grouped))))
    assert [(r["model.kind"], r["finished"], r["failed"], r["success_rate"]) for r in rows] == [
        ("rnn", "2", "0", "0.5"), ("lstm", "1", "1", "1.0")]
    assert rows[1]["eval_loss_std"] == "" and float(rows[0]["eval_loss_mean"]) == pytest.approx(0.15)


def test_write_results_writes_every_file(sweep):
    sw, folder = sweep
    _, paths = write_results(sw, folder)
    names = {p.relative_to(folder).as_posix() for p in paths}
    assert {"report.csv", "results.csv", "results.md", "plots/final_loss.png", "plots/success_rate.png",
            "plots/gradient_slope.png"} <= names
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
    report = list(csv.DictReader(io.StringIO((folder / "report.csv").read_text())))
    assert [(r["model.kind"], r["seed"], r["eval_loss"]) for r in report] == [
        ("rnn", "0", "0.1"), ("rnn", "1", "0.2"), ("lstm", "0", "0.05")]
