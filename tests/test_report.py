"""`gridlstm report` on real runs: every row recomputed from the run's own files."""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from gridlstm.cli.main import cli
from gridlstm.config import load_config
from gridlstm.nn.model import count_parameters
from gridlstm.results.report import KEYS
from gridlstm.train.trainer import build

from .plot_runs import read_csv


@pytest.fixture
def runs(tiny_runs) -> dict[str, Path]:
    return tiny_runs


def report(*args: str):
    return CliRunner().invoke(cli, ["report", *map(str, args)])


def expected_row(run: Path) -> dict[str, object]:
    """The report row rebuilt from config.yaml, metrics.csv, meta.json and gradients/summary.csv."""
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    evals = [r for r in read_csv(run / "metrics.csv") if r["split"] == "eval"]
    last = evals[-1]
    task = cfg["task"]["name"]
    chance = json.loads((run / "summary.json").read_text())["chance_heldout"]  # chance on the held-out set
    if task == "adding":  # predicting the population mean 1 there: not the analytic 1/6 exactly
        assert chance != 1 / 6
    else:                 # uniform over the two classes scores ln 2 on any set
        assert chance == pytest.approx(math.log(2))
    target = {"adding": 0.01, "parity": 0.99}[task]
    metric = float(last["metric"])
    _, model = build(load_config(run / "config.yaml"), torch.device("cpu"))
    slope = ratio = ""
    grad_summary = run / "gradients" / "summary.csv"
    if grad_summary.is_file():
        h = [r for r in read_csv(grad_summary) if r["state"] == "h"]
        top = max(h, key=lambda r: int(r["layer"]))
        slope, ratio = top["slope_decades_per_step"], top["first_last_ratio"]
    return {
        "status": json.loads((run / "meta.json").read_text())["status"],
        "task": task, "T": str(cfg["task"]["length"]), "model": cfg["model"]["kind"],
        "params": str(count_parameters(model)), "steps": last["step"],
        "eval_loss": float(last["loss"]), "chance": chance, "loss_vs_chance": float(last["loss"]) / chance,
        "eval_metric": metric, "solved": str(metric <= target if task == "adding" else metric >= target),
        "grad_slope": slope, "grad_ratio": ratio,
        # the run's own wall time (summary.json); the last eval row's clock is a lower bound of it
        "wall_seconds": json.loads((run / "summary.json").read_text())["wall_seconds"],
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
        want = expected_row(run)
        for key, value in want.items():
            if isinstance(value, float):
                assert float(got[key]) == pytest.approx(value, rel=1e-9), key
            else:
                assert got[key] == value, (name, key)
        last_eval = [r for r in read_csv(run / "metrics.csv") if r["split"] == "eval"][-1]
        assert float(got["wall_seconds"]) >= float(last_eval["seconds"])
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
    assert md[0].count("|") == md[2].count("|") == len(csv_header) + 1 > len(KEYS) + 1
    latex = report(runs["out"], "--format", "latex").output.strip().splitlines()
    assert latex[0].startswith(r"\begin{tabular}") and latex[-1] == r"\end{tabular}"
    assert sum(line.endswith(r"\\") for line in latex) == 1 + 4 and "adding-rnn" in "".join(latex)
    rich = report(runs["out"])
    assert rich.exit_code == 0 and "4 runs" in rich.output
    lines = rich.output.splitlines()
    header = next(ln for ln in lines if " run " in f" {ln} ").split()
    kind, length, steps, loss = (header.index(h) for h in ("kind", "length", "steps", "loss"))
    for name in ("rnn", "grid", "lstm", "parity"):  # one line per run, holding that run's own numbers
        want = expected_row(runs[name])
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
