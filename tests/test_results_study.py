"""The results study (gridlstm study results, make results): its file is checked before anything
runs, its verdicts follow the stated rule, and its page reports what the run folders hold."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from gridlstm.cli.main import cli
from gridlstm.errors import ConfigError
from gridlstm.results.page import Outcome, best, verdict
from gridlstm.studies.results import DEFAULT_RESULTS, load_results_spec

ROOT = Path(__file__).resolve().parent.parent
TINY = ["model.hidden=6", "train.eval_batches=2", "train.batch_size=8"]


def outcome(solved=False, samples=1000, ratio=1.0, time_after=None) -> Outcome:
    return Outcome("r", "m", 10, samples // 10, samples, solved, "accuracy", 0.5, ratio, 1.0, "completed",
                   (None, None), (None, time_after), 0, samples // 10, "U(±1/√H) init")


def test_verdict_rule_solved_then_samples_then_loss_with_a_tie_band():
    assert best([outcome(solved=False, ratio=0.1), outcome(solved=True, samples=9000)], "loss") == 1
    assert best([outcome(solved=True, samples=5000), outcome(solved=True, samples=4000)], "loss") == 1
    assert best([outcome(ratio=0.80), outcome(ratio=0.90)], "loss") == 0          # 11 % lower
    assert best([outcome(ratio=0.97), outcome(ratio=1.00)], "loss") is None       # within 5 %
    assert verdict([outcome(ratio=0.5), outcome(ratio=1.0)], "loss", 0) == "as published"
    assert verdict([outcome(ratio=0.5), outcome(ratio=1.0)], "loss", 1) == "not as published"
    assert verdict([outcome(ratio=0.99), outcome(ratio=1.0)], "loss", 1) == "no difference at this scale"
    # a gradient look (figure: profiles): fewer decades lost over time after training is better
    assert best([outcome(time_after=-0.3, ratio=0.1), outcome(time_after=-0.1, ratio=5.0)], "profiles") == 1


def test_the_shipped_results_file_resolves_every_run():
    spec = load_results_spec(DEFAULT_RESULTS)
    names = [c.name for c in spec.comparisons]
    assert names == ["memorize", "addition", "parity_depth", "adding_T200", "arjovsky_T1000"]
    for comp in spec.comparisons:
        assert len(comp.entries) == 2 and all(e.source.is_file() for e in comp.entries)
    parity = spec.comparisons[2]
    grid, lstm = (e.config for e in parity.entries)
    # the same input through one projection, the same depth: only the cell differs
    assert (grid.task.mode, lstm.task.mode) == ("whole", "whole")
    assert grid.model.layers == lstm.model.layers == 8
    assert [e.config.gradients.at_steps for e in parity.entries] == [[0], [0]]
    assert load_results_spec(DEFAULT_RESULTS, ("parity_depth",)).comparisons == (parity,)


@pytest.mark.parametrize("edit, needle", [
    (lambda d: d["comparisons"][0].update(colour="red"), "unknown key 'colour'"),
    (lambda d: d["comparisons"][0].update(better=5), "comparisons[0].better: expected the index of a run, 0..1"),
    (lambda d: d["comparisons"][0].update(figure="bars"), "expected one of loss, depth, profiles"),
    (lambda d: d["comparisons"][0]["runs"][0].update(config="../nope.yaml"), "config file not found"),
    (lambda d: d["comparisons"][0]["runs"][0].update(set=["model.hiden=3"]), "model.hiden"),
    (lambda d: d["comparisons"][0]["runs"].pop(), "at least two runs"),
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
    assert "--only adition: no such comparison; expected one of memorize, addition, parity_depth" in r.output


def toy_file(tmp_path: Path) -> Path:
    configs = ROOT / "configs"
    spec = {"name": "toy", "comparisons": [
        {"name": "depth_look", "title": "toy depth", "published": "the grid keeps more", "better": 0,
         "figure": "depth", "runs": [
             {"config": str(configs / "parity_grid.yaml"),
              "set": [*TINY, "model.layers=3", "train.steps=6", "train.eval_every=3", "gradients.at_steps=[0]"]},
             {"config": str(configs / "parity_lstm.yaml"),
              "set": [*TINY, "task.mode=whole", "model.layers=3", "train.steps=6", "train.eval_every=3",
                      "gradients.at_steps=[0]"]}]},
        {"name": "time_look", "title": "toy time", "published": "the lstm keeps more", "better": 1,
         "figure": "profiles", "runs": [
             {"config": str(configs / "adding_rnn.yaml"),
              "set": [*TINY, "task.length=12", "train.steps=3", "train.eval_every=3", "gradients.at_steps=[0]"]},
             {"config": str(configs / "adding_lstm.yaml"),
              "set": [*TINY, "task.length=12", "train.steps=3", "train.eval_every=3", "gradients.at_steps=[0]"]}]},
    ]}
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def profile_rows(run: Path) -> list[dict[str, str]]:
    with open(run / "gradients" / "profiles.csv") as f:
        return list(csv.DictReader(f))


def depth_decades(run: Path, state: str, step: int) -> float:
    """Hand computation from profiles.csv: log10 g[T, top] − log10 g[T, 1], mean over seeds."""
    rows = [r for r in profile_rows(run) if r["state"] == state and int(r["step"]) == step]
    T = max(int(r["t"]) for r in rows)
    top = max(int(r["layer"]) for r in rows)
    per_seed = {}
    for r in rows:
        if int(r["t"]) == T and int(r["layer"]) in (1, top):
            per_seed.setdefault(r["seed"], {})[int(r["layer"])] = float(r["norm"])
    return float(np.mean([math.log10(v[top]) - math.log10(v[1]) for v in per_seed.values()]))


def time_slope(run: Path, step: int) -> float:
    """Hand computation: least-squares slope of log10 g against steps back (nothing underflows at T=12)."""
    rows = [r for r in profile_rows(run) if r["state"] == "h" and int(r["step"]) == step]
    by_t = {int(r["t"]): float(r["norm"]) for r in rows}   # one layer, one seed
    T = max(by_t)
    back = np.array([T - t for t in sorted(by_t)], dtype=float)
    return float(np.polyfit(back, np.log10([by_t[t] for t in sorted(by_t)]), 1)[0])


@pytest.mark.slow
def test_toy_results_page_reports_the_run_folders(tmp_path, one_thread):
    spec = toy_file(tmp_path)
    page = tmp_path / "docs" / "results.md"
    r = CliRunner().invoke(cli, ["study", "results", str(spec), "--out", str(tmp_path / "out"),
                                 "--page", str(page), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    folder = Path(r.output.strip().splitlines()[-1])
    text = page.read_text()
    for name in ("depth_look", "time_look"):
        assert (page.parent / "results" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert f"](results/{name}.png)" in text
        assert (folder / "figures" / f"{name}.png").is_file()
    for i in (0, 1):
        run = folder / "runs" / f"depth_look-{i}"
        summary = json.loads((run / "summary.json").read_text())
        state = "h_depth" if summary["model"] == "grid" else "h"
        before, after = depth_decades(run, state, 0), depth_decades(run, state, summary["steps"])
        row = next(line for line in text.splitlines() if line.startswith(f"| depth_look-{i} |"))
        assert f"| {summary['params']:,} |" in row and f"| {summary['steps'] * 8} |" in row
        assert row.rstrip(" |").endswith(f"{before:.2f} → {after:.2f}")
    rnn, lstm = (folder / "runs" / f"time_look-{i}" for i in (0, 1))
    t_rnn, t_lstm = time_slope(rnn, 3), time_slope(lstm, 3)
    assert f"{time_slope(rnn, 0):.3f} → {t_rnn:.3f}" in text and t_rnn < 0
    assert "| U(±1/√H) init | " in text and "| U(±1/√H) init, forget bias 1 | " in text
    expected = "as published" if t_lstm > t_rnn else "not as published"
    assert "| [toy time](#time-look) | the lstm keeps more |" in text and f"**{expected}**" in text
    # a second call on the finished folder trains nothing and writes the same numbers
    stamp = (rnn / "summary.json").stat().st_mtime_ns
    again = CliRunner().invoke(cli, ["study", "results", str(spec), "--resume", str(folder), "--out",
                                     str(tmp_path / "out"), "--device", "cpu"])
    assert again.exit_code == 0, again.output
    assert (rnn / "summary.json").stat().st_mtime_ns == stamp
    assert (folder / "results.md").read_text().split("## Summary")[1] == text.split("## Summary")[1].replace(
        "](results/", "](figures/")
