"""The results study (gridlstm study results, make results): its file is checked before anything
runs, its baselines are matched as the papers matched them, and its page reports what the run
folders that produced it hold (recomputed here by hand from metrics.csv and profiles.csv)."""
from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from gridlstm.cli.main import cli
from gridlstm.errors import ConfigError
from gridlstm.nn.model import RecurrentModel, count_parameters
from gridlstm.results.verdict import WORDS
from gridlstm.studies.results import DEFAULT_RESULTS, load_results_spec
from gridlstm.tasks import make_task

ROOT = Path(__file__).resolve().parent.parent
TINY = ["model.hidden=6", "train.eval_batches=2", "train.batch_size=8"]


def params(cfg) -> int:
    task = make_task(cfg.task)
    return count_parameters(RecurrentModel(cfg.model, task.input_size, task.output_size))


def test_the_shipped_results_file_matches_its_baselines():
    spec = load_results_spec(DEFAULT_RESULTS)
    comps = {c.name: c for c in spec.comparisons}
    assert set(comps) == {"arjovsky_ours", "arjovsky_theirs", "parity", "adding_T200", "memorize", "addition"}
    assert spec.depth == DEFAULT_RESULTS.parent / "depth.yaml" and spec.spectrum == DEFAULT_RESULTS.parent / "spectrum.yaml"
    for c in spec.comparisons:
        assert c.seeds >= 3
        budgets = {e.config.train.steps * e.config.train.batch_size for e in c.entries}
        assert len(budgets) == 1, c.name              # one sample budget per comparison
    for name in ("memorize", "addition"):
        grid, untied, deep, wide = (e.config for e in comps[name].entries)
        assert grid.model.tied and not untied.model.tied and grid.model.layers == untied.model.layers
        assert deep.model.kind == "lstm" and deep.model.layers == grid.model.layers
        assert wide.model.kind == "lstm" and wide.model.layers == 1
        for lstm in (deep, wide):                      # the grid's parameter count, within 12 %
            assert abs(params(lstm) / params(grid) - 1) < 0.12, (name, params(lstm), params(grid))
    parity = [e.config for e in comps["parity"].entries]
    assert comps["parity"].seeds >= 5
    assert {c.task.mode for c in parity} == {"whole"} and {c.model.layers for c in parity} == {8}
    assert [(c.model.kind, c.model.nonlinearity) for c in parity[1:3]] == [("rnn", "tanh"), ("rnn", "relu")]
    theirs = comps["arjovsky_theirs"].entries[0].config
    assert (theirs.model.init, theirs.model.input_projection, theirs.train.rmsprop_alpha,
            theirs.train.clip_value, theirs.train.clip_norm) == ("glorot", False, 0.9, 1.0, 0.0)
    assert comps["arjovsky_ours"].entries[1].config.task.length == 1000


@pytest.mark.parametrize("edit, needle", [
    (lambda d: d["comparisons"][0].update(colour="red"), "unknown key 'colour'"),
    (lambda d: d["comparisons"][2].update(better=5), "comparisons[2].better: expected the index of a run, 0..3"),
    (lambda d: d["comparisons"][0].update(better=1), "expected [index at init, index after training]"),
    (lambda d: d["comparisons"][0].update(figure="bars"), "expected one of loss, profiles"),
    (lambda d: d["comparisons"][0].update(seeds=0), "comparisons[0].seeds: expected a number of seeds, 1..100"),
    (lambda d: d["comparisons"][0]["runs"][0].update(config="../nope.yaml"), "config file not found"),
    (lambda d: d["comparisons"][0]["runs"][0].update(set=["model.hiden=3"]), "model.hiden"),
    (lambda d: d["comparisons"][0]["runs"].pop(), "at least two runs"),
    (lambda d: d.update(spectrum="nope.yaml"), "spectrum: study file not found"),
])
def test_a_bad_results_file_is_refused_before_anything_runs(tmp_path, edit, needle):
    data = yaml.safe_load(DEFAULT_RESULTS.read_text())
    edit(data)
    path = DEFAULT_RESULTS.parent / f".test-{tmp_path.name}.yaml"  # beside the shipped one: same ../ paths
    try:
        path.write_text(yaml.safe_dump(data))
        with pytest.raises(ConfigError) as e:
            load_results_spec(path)
        assert needle in str(e.value)
        r = CliRunner().invoke(cli, ["study", "results", str(path), "--out", str(tmp_path / "out")])
        assert r.exit_code == 2 and needle in r.output and "Traceback" not in r.output
        assert not (tmp_path / "out").exists()
    finally:
        path.unlink()


def test_an_unknown_comparison_names_the_valid_ones(tmp_path):
    r = CliRunner().invoke(cli, ["study", "results", "--only", "adition", "--out", str(tmp_path)])
    assert r.exit_code == 2
    assert "--only adition: no such comparison; expected one of arjovsky_ours, arjovsky_theirs, parity" in r.output


def toy_file(tmp_path: Path, spectrum: bool = False) -> Path:
    configs = ROOT / "configs"
    short = [*TINY, "task.length=12", "train.steps=3", "train.eval_every=3", "gradients.at_steps=[0]"]
    learn = [*TINY, "model.layers=2", "task.length=3", "train.steps=40", "train.eval_every=10"]
    spec = {"name": "toy", "seeds": 2, "comparisons": [
        {"name": "time_look", "title": "toy time", "published": "the lstm keeps more", "better": [0, 1],
         "figure": "profiles", "runs": [
             {"label": "tanh RNN", "config": str(configs / "adding_rnn.yaml"), "set": short},
             {"label": "LSTM", "config": str(configs / "adding_lstm.yaml"),
              "set": [*short, "model.init=glorot", "model.input_projection=false"]}]},
        {"name": "learn", "title": "toy learn", "published": "the grid solves first", "better": 0, "seeds": 3,
         "runs": [
             {"label": "grid", "config": str(configs / "parity_grid.yaml"), "set": learn},
             {"config": str(configs / "parity_lstm.yaml"), "set": [*learn, "task.mode=whole"]}]},
    ]}
    if spectrum:
        toy_spectrum = {"name": "toy-spectrum", "train_steps": 2, "entries": [
            {"name": "rnn", "axis": "time", "config": str(configs / "adding_rnn.yaml"),
             "set": [*TINY, "task.length=8", "train.eval_every=2"]},
            {"name": "grid D=3", "axis": "depth", "config": str(configs / "parity_grid.yaml"),
             "set": [*TINY, "model.layers=3", "train.eval_every=2"]}]}
        (tmp_path / "spectrum.yaml").write_text(yaml.safe_dump(toy_spectrum))
        spec["spectrum"] = "spectrum.yaml"
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def eval_metrics(run: Path) -> list[float]:
    with open(run / "metrics.csv") as f:
        return [float(r["metric"]) for r in csv.DictReader(f) if r["split"] == "eval"]


def hand_decay(run: Path, step: int, w: int) -> float:
    """From profiles.csv: (log10 g[loss] − log10 g[w steps back]) / w of h, one seed, one layer."""
    with open(run / "gradients" / "profiles.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["state"] == "h" and int(r["step"]) == step]
    by_t = {int(r["t"]): float(r["norm"]) for r in rows}
    T = max(by_t)
    w = min(w, T - 1)
    return (math.log10(by_t[T]) - math.log10(by_t[T - w])) / w


@pytest.mark.slow
def test_toy_results_page_reports_the_run_folders(tmp_path, one_thread):
    spec = toy_file(tmp_path, spectrum=True)
    page = tmp_path / "docs" / "results.md"
    r = CliRunner().invoke(cli, ["study", "results", str(spec), "--out", str(tmp_path / "out"),
                                 "--page", str(page), "--device", "cpu", "--jobs", "2"])
    assert r.exit_code == 0, r.output
    folder = Path(r.output.strip().splitlines()[-1])
    text = page.read_text()
    assert str(tmp_path) not in text and "/tmp" not in text and "0.0 min" not in text
    assert f"`{folder.relative_to(tmp_path / 'out')}`" in text           # relative to the output root
    assert "variant=" not in text and "lstm paper" not in text
    for name in ("time_look", "learn"):
        assert (page.parent / "results" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert f"](results/{name}.png)" in text and f"--only {name}`" in text
    # the learning comparison: 3 seeds per model, each row recomputed from the folders
    for i, label in enumerate(["grid", "lstm, D=2, H=6"]):
        runs = sorted((folder / "runs").glob(f"learn-{i}-s*"))
        assert len(runs) == 3
        sums = [json.loads((p / "summary.json").read_text()) for p in runs]
        solved = sum(s["solved"] for s in sums)
        finals = [s["eval_metric"] for s in sums]
        bests = [max(eval_metrics(p)) for p in runs]
        row = next(line for line in text.splitlines() if line.startswith(f"| {label} |"))
        assert f"| {sums[0]['params']:,} | 3 | {solved}/3 |" in row
        assert f"{np.mean(finals):.3f} ± {np.std(finals, ddof=1):.3f}" in row
        assert f"{np.mean(bests):.3f} ± {np.std(bests, ddof=1):.3f}" in row
        assert "| 320 |" in row                                          # budget: 40 steps × 8
    verdict = re.search(r"\*\*Verdict: ([^*]+)\.\*\* grid against", text)[1]
    assert verdict in WORDS
    # the gradient comparison: window decays recomputed from profiles.csv, both settings named
    for i, label in enumerate(["tanh RNN", "LSTM"]):
        runs = sorted((folder / "runs").glob(f"time_look-{i}-s*"))
        for step in (0, 3):
            d = [hand_decay(p, step, 10) for p in runs]
            row = next(line for line in text.splitlines()
                       if line.startswith(f"| {label} |") and f"| 2 | {step} |" in line)
            assert f"{np.mean(d):.4f} ± {np.std(d, ddof=1):.4f}" in row
    assert "Glorot-uniform, x straight into the cell" in text and "U(±1/√H), x through a projection" in text
    assert "at initialisation: the figure has the tanh RNN keeping more" in text
    assert "after training: the figure has the LSTM keeping more" in text
    assert "Paper scale (`configs/studies/results_paper.yaml`): not run" in text
    # the spectrum study: its own table whole, read from its folder, and its figure beside the page
    rows = list(csv.DictReader(open(folder / "spectrum" / "spectrum.csv")))
    assert [(r["entry"], r["stage"]) for r in rows] == [("rnn", "init"), ("rnn", "trained"),
                                                         ("grid D=3", "init"), ("grid D=3", "trained")]
    table = (folder / "spectrum" / "spectrum.md").read_text().split("\n", 1)[1].strip()
    assert table in text and "](results/spectrum.png)" in text
    assert (page.parent / "results" / "spectrum.png").read_bytes()[:4] == b"\x89PNG"
    # a second call on the finished folder trains nothing and writes the same page
    stamp = (folder / "runs" / "learn-0-s0" / "summary.json").stat().st_mtime_ns
    again = CliRunner().invoke(cli, ["study", "results", str(spec), "--resume", str(folder), "--out",
                                     str(tmp_path / "out"), "--device", "cpu"])
    assert again.exit_code == 0, again.output
    assert (folder / "runs" / "learn-0-s0" / "summary.json").stat().st_mtime_ns == stamp
    in_folder = text.replace("](results/spectrum.png", "](spectrum/spectrum.png").replace("](results/", "](figures/")
    assert (folder / "results.md").read_text() == in_folder
    # a run not finished: its comparison is not summarised from the others
    (folder / "runs" / "learn-1-s2" / "summary.json").unlink()
    partial = CliRunner().invoke(cli, ["study", "results", str(spec), "--resume", str(folder), "--page-only",
                                       "--out", str(tmp_path / "out")])
    assert partial.exit_code == 0, partial.output
    text = (folder / "results.md").read_text()
    assert "| toy learn | not yet run over seeds (1 of 6 runs unfinished) | — |" in text
    assert "## toy learn" not in text and "## toy time" in text


PAPER = DEFAULT_RESULTS.parent / "results_paper.yaml"


def test_the_paper_scale_file_holds_the_papers_settings_and_one_budget():
    spec = load_results_spec(PAPER)
    assert [c.name for c in spec.comparisons] == ["memorize_paper", "addition_paper"]
    for c in spec.comparisons:
        assert c.seeds >= 3
        for e in c.entries:
            t = e.config.train
            assert (t.batch_size, t.optimizer, t.lr) == (15, "adam", 1e-3)
            assert 5_000_000 <= t.steps * t.batch_size < 5_000_015          # the 5M-sample cap
        grid = c.entries[0].config
        assert grid.model.tied and grid.model.hidden == 400
        for lstm in (c.entries[2].config, c.entries[3].config):            # the grid's parameter count
            assert abs(params(lstm) / params(grid) - 1) < 0.05
    memorize, addition = (c.entries[0].config for c in spec.comparisons)
    assert (memorize.task.length, memorize.task.vocab, memorize.model.layers) == (20, 64, 7)
    assert (addition.task.length, addition.model.layers) == (15, 18)


@pytest.mark.slow
def test_every_paper_scale_model_takes_a_real_training_step(one_thread):
    import torch

    from gridlstm.config import load_config
    from gridlstm.train.trainer import Trainer

    for comp in load_results_spec(PAPER).comparisons:
        for e in comp.entries:
            cfg = load_config(e.source, [*e.overrides, "train.eval_batches=1", "gradients.at_steps=[]",
                                         "gradients.at_end=false"])
            trainer = Trainer(cfg, torch.device("cpu"))
            before = [p.detach().clone() for p in trainer.model.parameters()]
            loss, _, grad_norm = trainer.train_step()
            assert math.isfinite(loss) and math.isfinite(grad_norm) and grad_norm > 0, e.label
            assert any(not torch.equal(a, p) for a, p in zip(before, trainer.model.parameters(), strict=True))


def test_page_only_needs_the_study_folder(tmp_path):
    r = CliRunner().invoke(cli, ["study", "results", "--page-only", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "--page-only needs --resume FOLDER" in r.output and "Traceback" not in r.output


@pytest.mark.slow
def test_a_run_that_cannot_resume_is_reported_failed_with_its_reason(tmp_path, one_thread):
    """A refused resume (a checkpoint written for another config) is a failure, named with its
    reason, not an interruption; the study ends with the command that finishes it."""
    import torch

    spec = toy_file(tmp_path)
    args = ["study", "results", str(spec), "--only", "learn", "--out", str(tmp_path / "out"), "--device", "cpu"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    folder = Path(r.output.strip().splitlines()[-1])
    run = folder / "runs" / "learn-1-s2"
    (run / "summary.json").unlink()
    meta_file = run / "meta.json"
    meta_file.write_text(json.dumps({**json.loads(meta_file.read_text()), "status": "interrupted"}))
    payload = torch.load(run / "checkpoint.pt", weights_only=False)
    payload["config"]["model"]["hidden"] += 1
    torch.save(payload, run / "checkpoint.pt")
    again = CliRunner().invoke(cli, [*args, "--resume", str(folder), "--jobs", "2"])
    assert again.exit_code == 2 and "Traceback" not in again.output
    line = next(x for x in again.output.splitlines() if "learn-1-s2:" in x)
    assert line.strip().startswith("learn-1-s2: failed (") and "written for another config" in line, line
    assert f"--resume {folder}" in again.output
