"""`gridlstm report` on real runs and on a hand-written run folder whose row is known in advance."""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from gridlstm.cli.main import cli
from gridlstm.results.report import KEYS

from .plot_runs import read_csv


@pytest.fixture
def runs(tiny_runs) -> dict[str, Path]:
    return tiny_runs


def report(*args: str):
    return CliRunner().invoke(cli, ["report", *map(str, args)])


# What each tiny run is (plot_runs.make_runs, H = 6), and its parameter count written out from the
# equations (docs/models.md): a gate transform over [input; recurrent] (2H rows) to G·H gates has
# 2H·G·H weights and G·H biases (G = 1 for the rnn, 4 for an LSTM; the grid has a time and a depth
# LSTM per layer), the input projection (I+1)·H and the readout (H+1)·O (adding: I = 2, O = 1;
# parity one bit per step: I = 1, O = 2).
H = 6
RUNS = {
    "rnn": ("adding", "12", "rnn", 2 * H * H + H + 3 * H + (H + 1)),
    "lstm": ("adding", "12", "lstm", 2 * H * 4 * H + 4 * H + 3 * H + (H + 1)),
    "grid": ("adding", "12", "grid", 2 * 2 * (2 * H * 4 * H + 4 * H) + 3 * H + (H + 1)),
    "parity": ("parity", "6", "rnn", 2 * H * H + H + 2 * H + 2 * (H + 1)),
}
TARGETS = {"adding": lambda mse: mse <= 0.01, "parity": lambda accuracy: accuracy >= 0.99}  # docs/models.md


def expected_row(name: str, run: Path) -> dict[str, object]:
    """The report row from what the run is (RUNS) and the numbers its training logged."""
    task, length, kind, params = RUNS[name]
    last = [r for r in read_csv(run / "metrics.csv") if r["split"] == "eval"][-1]  # the final eval
    chance = json.loads((run / "summary.json").read_text())["chance_heldout"]  # the held-out set's own
    if task == "adding":  # the population mean 1 predicted there: near 1/6, not it exactly
        assert chance != 1 / 6
    else:                 # uniform over the two classes scores ln 2 on any set
        assert chance == pytest.approx(math.log(2))
    slope = ratio = ""
    grad_summary = run / "gradients" / "summary.csv"
    if grad_summary.is_file():
        h = [r for r in read_csv(grad_summary) if r["state"] == "h"]
        top = max(h, key=lambda r: int(r["layer"]))
        slope, ratio = top["slope_decades_per_step"], top["first_last_ratio"]
    return {
        "status": "completed", "task": task, "T": length, "model": kind, "params": str(params),
        "steps": "10", "eval_loss": float(last["loss"]), "chance": chance,
        "loss_vs_chance": float(last["loss"]) / chance, "eval_metric": float(last["metric"]),
        "solved": str(TARGETS[task](float(last["metric"]))), "grad_slope": slope, "grad_ratio": ratio,
    }


def test_csv_rows_match_the_run_files(runs):
    result = report(runs["out"], "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert tuple(rows[0].keys())[:len(KEYS)] == KEYS and len(rows) == 4
    assert {"model.kind", "task.name"} <= set(tuple(rows[0].keys())[len(KEYS):])  # config keys that differ
    by_run = {r["run"]: r for r in rows}
    for name in ("rnn", "grid", "lstm", "parity"):
        run = runs[name]
        got = by_run[f"{run.parent.name}/{run.name}"]
        want = expected_row(name, run)
        for key, value in want.items():
            if isinstance(value, float):
                assert float(got[key]) == pytest.approx(value, rel=1e-9), key
            else:
                assert got[key] == value, (name, key)
        last_eval = [r for r in read_csv(run / "metrics.csv") if r["split"] == "eval"][-1]
        assert float(got["wall_seconds"]) >= float(last_eval["seconds"])  # the eval's clock: a lower bound
    assert by_run[f"{runs['lstm'].parent.name}/{runs['lstm'].name}"]["grad_slope"] == ""  # no gradcheck
    rnn = by_run[f"{runs['rnn'].parent.name}/{runs['rnn'].name}"]
    assert float(rnn["grad_slope"]) < 0  # a tanh RNN's gradient decays going back in time


def test_globs_folders_and_runs_name_the_same_set(runs):
    out = runs["out"]
    quoted = report(f"{out}/*-*/*", "--format", "csv")
    folder = report(out, "--format", "csv")
    explicit = report(*(runs[k] for k in ("grid", "lstm", "rnn", "parity")), "--format", "csv")
    assert quoted.exit_code == folder.exit_code == explicit.exit_code == 0
    assert sorted(quoted.output.splitlines()) == sorted(folder.output.splitlines()) \
        == sorted(explicit.output.splitlines())
    twice = report(runs["rnn"], runs["rnn"], out / "adding-rnn", "--format", "csv")
    assert len(twice.output.strip().splitlines()) == 2  # header + one row: repeats dropped


def test_sort_ascending_and_descending(runs):
    up = list(csv.DictReader(io.StringIO(report(runs["out"], "--format", "csv", "--sort", "params").output)))
    down = list(csv.DictReader(io.StringIO(report(runs["out"], "--format", "csv",
                                                  "--sort", "-eval_loss").output)))
    assert [int(r["params"]) for r in up] == sorted(int(r["params"]) for r in up)
    assert [float(r["eval_loss"]) for r in down] == sorted((float(r["eval_loss"]) for r in down), reverse=True)
    slope = list(csv.DictReader(io.StringIO(report(runs["out"], "--format", "csv",
                                                   "--sort", "grad_slope").output)))
    assert [r["grad_slope"] == "" for r in slope][-2:] == [True, True]  # blanks last


def test_markdown_latex_and_rich(runs):
    md = report(runs["out"], "--format", "md").output.strip().splitlines()
    assert len(md) == 2 + 4 and all(line.startswith("| ") for line in md[2:])
    csv_header = report(runs["out"], "--format", "csv").output.splitlines()[0].split(",")
    from gridlstm.results.columns import SAME_AS_COLUMN

    # md: csv's columns less the config keys a result column shows already (task.name is task)
    kept = [h for h in csv_header if h not in SAME_AS_COLUMN]
    assert md[0].count("|") == md[2].count("|") == len(kept) + 1 > len(KEYS) + 1 and len(kept) < len(csv_header)
    headers = [h.strip() for h in md[0].strip("|").split("|")]
    assert len(headers) == len(set(headers))  # no two columns headed alike
    latex = report(runs["out"], "--format", "latex").output.strip().splitlines()
    assert latex[0].startswith(r"\begin{tabular}") and latex[-1] == r"\end{tabular}"
    assert sum(line.endswith(r"\\") for line in latex) == 1 + 4 and "adding-rnn" in "".join(latex)
    rich = report(runs["out"])
    assert rich.exit_code == 0 and "4 runs" in rich.output
    lines = rich.output.splitlines()
    header = next(ln for ln in lines if " run " in f" {ln} ").split()
    kind, length, steps, loss = (header.index(h) for h in ("kind", "length", "steps", "loss"))
    for name in ("rnn", "grid", "lstm", "parity"):  # one line per run, holding that run's own numbers
        want = expected_row(name, runs[name])
        line = next(ln for ln in lines if runs[name].name in ln)
        cells = line.split()  # no cell holds a space here: columns line up with the header's words
        assert [cells[kind], cells[length], cells[steps]] == [want["model"], want["T"], want["steps"]], cells
        assert float(cells[loss - 1]) == pytest.approx(want["eval_loss"], rel=1e-3), cells


@pytest.mark.parametrize("case, needle", [
    ("not_a_run", "is not a run folder"),
    ("missing", "does not exist"),
    ("no_match", "no folders match"),
    ("bad_sort", "--sort nope: expected one of run, status, task"),
])
def test_errors_are_one_line_and_exit_2(runs, tmp_path, case, needle):
    args = {"not_a_run": [tmp_path], "missing": [tmp_path / "nope"], "no_match": [f"{tmp_path}/zz*"],
            "bad_sort": [runs["rnn"], "--sort", "nope"]}[case]
    result = report(*args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and needle in lines[0], result.output


def test_a_run_still_training_gets_its_last_eval_row(runs, tmp_path):
    run = tmp_path / "adding-rnn" / "20260101-000000-abcd"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text((runs["rnn"] / "config.yaml").read_text())
    (run / "meta.json").write_text(json.dumps({"status": "running"}))
    metrics = (runs["rnn"] / "metrics.csv").read_text().splitlines()
    (run / "metrics.csv").write_text("\n".join(metrics[:3]) + "\n")  # header, eval@0, train@5
    result = report(tmp_path, "--format", "csv")
    assert result.exit_code == 0, result.output
    [row] = csv.DictReader(io.StringIO(result.output))
    first_eval = [r for r in read_csv(run / "metrics.csv") if r["split"] == "eval"][-1]
    assert row["status"] == "running" and row["solved"] == "" and row["params"] == ""
    assert row["steps"] == first_eval["step"] == "0"
    assert float(row["eval_loss"]) == pytest.approx(float(first_eval["loss"]))
    assert float(row["chance"]) == pytest.approx(1 / 6)


def test_a_hand_written_run_folder_gives_the_row_written_into_it(tmp_path):
    """An independent oracle: a folder whose files hold chosen numbers, so every cell is known."""
    from gridlstm.config import dump_config, load_config

    run = tmp_path / "hand" / "20260101-000000-0001"
    (run / "gradients").mkdir(parents=True)
    (run / "config.yaml").write_text(dump_config(load_config(None, ["model.kind=lstm", "model.layers=2"])))
    (run / "meta.json").write_text(json.dumps({"status": "completed"}))
    (run / "summary.json").write_text(json.dumps({
        "status": "completed", "task": "adding", "length": 50, "model": "lstm", "variant": None, "tied": False,
        "layers": 2, "hidden": 32, "params": 12345, "steps": 700, "eval_loss": 0.02, "chance": 1 / 6,
        "chance_heldout": 0.16, "metric_name": "mse", "eval_metric": 0.02, "target": 0.01, "solved": False,
        "wall_seconds": 12.5}))
    (run / "gradients" / "summary.csv").write_text(
        "state,layer,slope_decades_per_step,first_last_ratio\n"
        "h,1,-0.05,0.001\nh,2,-0.25,1e-09\nc,2,-0.5,1e-20\n")  # the top layer's h is layer 2's
    result = report(tmp_path, "--format", "csv")
    assert result.exit_code == 0, result.output
    [row] = csv.DictReader(io.StringIO(result.output))
    assert {k: row[k] for k in ("run", "status", "task", "T", "model", "layers", "hidden", "params", "steps",
                                "wall_seconds", "eval_metric", "solved", "grad_slope", "grad_ratio")} == {
        "run": "hand/20260101-000000-0001", "status": "completed", "task": "adding", "T": "50",
        "model": "lstm", "layers": "2", "hidden": "32", "params": "12345", "steps": "700",
        "wall_seconds": "12.5", "eval_metric": "0.02", "solved": "False", "grad_slope": "-0.25",
        "grad_ratio": "1e-09"}
    assert float(row["chance"]) == 0.16 and float(row["loss_vs_chance"]) == pytest.approx(0.125, rel=1e-12)
