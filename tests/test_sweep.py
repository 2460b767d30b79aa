"""gridlstm sweep: expansion and validation, a real local sweep of 12 tiny runs with its table and
figures, a failing run and its rerun (Ctrl-C and kill -9: test_sweep_signals.py)."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from gridlstm.cli.common import OPTIONS
from gridlstm.cli.main import cli
from gridlstm.errors import ConfigError, ParamError
from gridlstm.sweep.executors import import_ray, make_executor, threads_per_job
from gridlstm.sweep.folder import open_sweep_dir
from gridlstm.sweep.spec import parse_sweep, run_ids

TINY = {"task": {"name": "adding", "length": 6},
        "model": {"kind": "lstm", "hidden": 4, "layers": 1},
        "train": {"steps": 12, "batch_size": 8, "eval_every": 6, "eval_batches": 1, "log_every": 6}}
GRIDLSTM = Path(sys.executable).parent / "gridlstm"


def sweep_data(**extra) -> dict:
    return {"name": "t", "config": json.loads(json.dumps(TINY)), **extra}


def write_sweep(path: Path, **extra) -> Path:
    path.write_text(yaml.safe_dump(sweep_data(**extra), sort_keys=False))
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def meta(run: Path) -> dict:
    return json.loads((run / "meta.json").read_text())


# ----------------------------------------------------------------------------- expansion


def test_cartesian_product_order_ids_and_configs():
    s = parse_sweep(sweep_data(axes={"model.kind": ["rnn", "lstm", "grid"], "task.length": [5, 7],
                                     "seed": [0, 1]}))
    assert len(s.runs) == 3 * 2 * 2
    # first axis slowest, last fastest
    assert [tuple(r.values.values()) for r in s.runs[:5]] == [
        ("rnn", 5, 0), ("rnn", 5, 1), ("rnn", 7, 0), ("rnn", 7, 1), ("lstm", 5, 0)]
    assert s.runs[0].id == "kind=rnn,length=5,seed=0"
    assert len({r.id for r in s.runs}) == 12
    for r in s.runs:  # every run's config carries its axis values over the base
        assert (r.config.model.kind, r.config.task.length, r.config.seed) == tuple(r.values.values())
        assert r.config.model.hidden == 4 and r.config.train.steps == 12 and r.config.name == "t"
    assert s.group_keys == ("model.kind", "task.length")
    assert s.plot_x == "task.length"  # the first numeric non-seed axis


def test_zip_groups_vary_together_and_exclude_rules():
    s = parse_sweep(sweep_data(axes={"task.length": [5, 9]},
                               zip=[{"model.hidden": [4, 8, 16], "train.lr": [0.01, 0.003, 0.001]}],
                               exclude=[{"task.length": 9, "model.hidden": [8, 16]}]))
    pairs = {(r.config.model.hidden, r.config.train.lr) for r in s.runs}
    assert pairs == {(4, 0.01), (8, 0.003), (16, 0.001)}
    kept = [(r.config.task.length, r.config.model.hidden) for r in s.runs]
    assert kept == [(5, 4), (5, 8), (5, 16), (9, 4)]


def test_exclude_keeps_booleans_apart_from_numbers():
    s = parse_sweep(sweep_data(axes={"model.tied": [False, True], "model.layers": [1, 2]},
                               exclude=[{"model.tied": True, "model.layers": 1}]))
    assert [(r.config.model.tied, r.config.model.layers) for r in s.runs] == [(False, 1), (False, 2), (True, 2)]
    with pytest.raises(ConfigError, match=r"exclude\[0\] matches no run"):
        parse_sweep(sweep_data(axes={"model.layers": [1, 2]}, exclude=[{"model.layers": True}]))


def test_every_problem_of_every_run_is_reported_before_anything_runs():
    with pytest.raises(ConfigError) as e:
        parse_sweep(sweep_data(axes={"model.kind": ["rnn", "lstm", "transformer"], "seed": [0, 1],
                                     "model.hiden": [4]},
                               zip=[{"train.lr": [0.1, 0.2], "train.steps": [1]}], frobnicate=1))
    problems = e.value.problems
    assert any("unknown sweep key 'frobnicate'" in p for p in problems)
    assert any("model.hiden" in p and "did you mean model.hidden" in p for p in problems)
    assert any("zip[0]: lists of one zip group must have equal lengths" in p for p in problems)
    # structure problems stop before expansion; once the structure is right, each run is validated
    with pytest.raises(ConfigError) as e:
        parse_sweep(sweep_data(axes={"model.kind": ["rnn", "lstm", "transformer"], "seed": [0, 1],
                                     "model.variant": ["memory_input", "paper"]}))
    problems = e.value.problems
    bad_kind = [p for p in problems if "transformer" in p]
    assert bad_kind and bad_kind[0].startswith("run kind=transformer,seed=0,variant=memory_input and 3 more")
    assert any("model.variant applies only to model.kind grid" in p and "and 3 more" in p for p in problems)


@pytest.mark.parametrize("bad, message", [
    ({"axes": {"seed": []}}, "expected a non-empty list"),
    ({"axes": {"seed": [0, 0]}}, "repeated value(s) 0"),
    ({"axes": {"seed": [[0]]}}, "values must be scalars"),
    ({"axes": {}}, "the sweep has no axes"),
    ({"axes": {"seed": [0]}, "zip": [{"seed": [1]}]}, "seed is swept more than once"),
    ({"axes": {"seed": [0]}, "exclude": [{"task.length": 5}]}, "task.length is not swept"),
    ({"axes": {"seed": [0, 1]}, "exclude": [{"seed": [0, 1]}]}, "exclude removes all 2 runs"),
    ({"axes": {"seed": [0]}, "plot": {"x": "task.length"}}, "plot.x: 'task.length' is not swept"),
    ({"axes": {"name": ["a", "b"]}}, "name cannot be swept"),
    ({"axes": {"seed": [0]}, "base": "no_such_config.yaml"}, "config file not found"),
])
def test_bad_sweeps_name_the_problem(bad, message, tmp_path):
    data = sweep_data(**{k: v for k, v in bad.items() if k != "base"})
    if "base" in bad:
        data["base"] = bad["base"]
    with pytest.raises(ConfigError) as e:
        parse_sweep(data, tmp_path / "s.yaml")
    assert any(message in p for p in e.value.problems), e.value.problems


def test_base_file_relative_to_the_sweep_and_overrides(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "base.yaml").write_text(yaml.safe_dump(TINY))
    (tmp_path / "configs" / "sweeps").mkdir()
    path = tmp_path / "configs" / "sweeps" / "s.yaml"
    path.write_text(yaml.safe_dump({"base": "../base.yaml", "config": {"train.steps": 7},
                                    "axes": {"seed": [0, 1]}}))
    from gridlstm.sweep.spec import load_sweep
    s = load_sweep(path, ["model.hidden=6"])
    assert s.name == "s"  # the file's stem
    assert all(r.config.model.hidden == 6 and r.config.train.steps == 7 and r.config.task.length == 6
               for r in s.runs)
    with pytest.raises(ConfigError, match="sets a swept key"):
        load_sweep(path, ["seed=3"])
    # the stored spec is self-contained and expands to exactly the same runs (what resume relies on)
    again = parse_sweep(yaml.safe_load(yaml.safe_dump(s.spec)))
    assert [(r.id, r.config) for r in again.runs] == [(r.id, r.config) for r in s.runs]


def test_run_ids_are_stable_unique_and_safe():
    ids = run_ids([{"model.kind": "rnn", "train.lr": 0.001}, {"model.kind": "lstm", "train.lr": 1e-05}])
    assert ids == ["kind=rnn,lr=0.001", "kind=lstm,lr=1e-05"]
    # two keys with the same last part keep their full names
    assert run_ids([{"task.length": 5, "x.length": 2}]) == ["task.length=5,x.length=2"]
    # values that sanitise to the same text get a hash of the exact values
    clash = run_ids([{"a": "x y"}, {"a": "x/y"}])
    assert len(set(clash)) == 2 and all(i.startswith("a=x_y-") for i in clash)
    assert all("/" not in i and " " not in i for i in clash)


def test_threads_per_job_never_oversubscribe():
    assert threads_per_job(2, cores=2) == 1
    assert threads_per_job(1, cores=8) == 8
    assert threads_per_job(3, cores=8) == 2
    assert threads_per_job(16, cores=4) == 1


def test_executor_options_are_checked(monkeypatch):
    with pytest.raises(ParamError, match="^address=auto: applies only to kind=ray$") as e:
        make_executor("local", address="auto")
    assert e.value.named(OPTIONS) == "--address auto: applies only to --executor ray"
    with pytest.raises(ParamError, match="^kind=gpu: expected one of local, ray$") as e:
        make_executor("gpu")  # the library names its parameter; the CLI its option for it
    assert e.value.named(OPTIONS) == "--executor gpu: expected one of local, ray"
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ParamError, match=r"^kind=ray: needs Ray.*pip install '\.\[ray\]'.*or use kind=local$") as e:
        import_ray(local=False)
    assert e.value.named(OPTIONS).startswith("--executor ray: needs Ray") and e.value.named(OPTIONS).endswith(
        "or use --executor local")


def test_cli_errors_are_one_line_exit_2(tmp_path):
    runner = CliRunner()
    bad = write_sweep(tmp_path / "bad.yaml", axes={"model.kind": ["rnn", "transformer"]})
    r = runner.invoke(cli, ["sweep", str(bad), "--out", str(tmp_path)])
    assert r.exit_code == 2 and "Error: invalid config" in r.output and "transformer" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "sweeps").exists()  # nothing written
    r = runner.invoke(cli, ["sweep", str(tmp_path / "missing.yaml")])
    assert r.exit_code == 2 and "no such sweep file or sweep folder" in r.output
    good = write_sweep(tmp_path / "good.yaml", axes={"seed": [0]})
    r = runner.invoke(cli, ["sweep", str(good), "--address", "auto"])
    assert r.exit_code == 2 and "--address auto: applies only to --executor ray" in r.output
    r = runner.invoke(cli, ["sweep", str(good), "--dry-run", "--out", str(tmp_path)])
    assert r.exit_code == 0 and "seed=0" in r.output and not (tmp_path / "sweeps").exists()


# ----------------------------------------------------------------------------- a real sweep


def check_results(sweep_dir: Path, n_runs: int) -> None:
    """Every run folder is complete, and results.csv equals an independent recomputation."""
    s = open_sweep_dir(sweep_dir)
    assert len(s.runs) == n_runs
    status = {r["id"]: r for r in read_csv(sweep_dir / "status.csv")}
    summaries = {}
    for r in s.runs:
        run = sweep_dir / "runs" / r.id
        m = meta(run)
        assert m["status"] == "completed" and status[r.id]["status"] == "completed"
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        assert cfg["model"]["kind"] == r.values["model.kind"] and cfg["seed"] == r.values["seed"]
        assert cfg["task"]["length"] == r.values["task.length"]
        summaries[r.id] = json.loads((run / "summary.json").read_text())
        assert summaries[r.id]["steps"] == 12 and Path(summaries[r.id]["run_dir"]) == run
        steps = [int(x["step"]) for x in read_csv(run / "metrics.csv") if x["split"] == "train"]
        assert steps == [6, 12]
        ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
        assert ckpt["step"] == 12
        grad = read_csv(run / "gradients" / "summary.csv")
        assert any(g["state"] == "h" for g in grad)
        # as `gridlstm gradcheck RUN`: the default prediction beside every carried state's slope
        assert all(g["predicted_slope"] != "" for g in grad if g["state"] in ("h", "c", "x"))
    results = read_csv(sweep_dir / "results.csv")
    assert len(results) == n_runs // 2  # grouped over the 2 seeds
    for g in results:
        members = [r for r in s.runs if r.values["model.kind"] == g["model.kind"]
                   and str(r.values["task.length"]) == g["task.length"]]
        losses = [summaries[r.id]["eval_loss"] for r in members]
        assert int(g["runs"]) == int(g["finished"]) == 2 and int(g["failed"]) == 0
        assert float(g["eval_loss_mean"]) == pytest.approx(np.mean(losses), rel=1e-9)
        assert float(g["eval_loss_std"]) == pytest.approx(np.std(losses, ddof=1), rel=1e-9)
        # chance on the held-out set (the same eval set for every run of one length)
        assert float(g["chance"]) == pytest.approx(np.mean([summaries[r.id]["chance_heldout"] for r in members]))
        solved = [summaries[r.id]["solved"] for r in members]
        assert float(g["success_rate"]) == pytest.approx(sum(solved) / 2)
        slopes = []
        for r in members:  # top layer's h, as report.py reads it
            rows = read_csv(sweep_dir / "runs" / r.id / "gradients" / "summary.csv")
            top = max((x for x in rows if x["state"] == "h"), key=lambda x: int(x["layer"]))
            slopes.append(float(top["slope_decades_per_step"]))
        assert float(g["grad_slope_mean"]) == pytest.approx(np.mean(slopes), rel=1e-9)
    for name in ("final_loss.png", "success_rate.png", "gradient_slope.png"):
        png = (sweep_dir / "plots" / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


@pytest.mark.slow
def test_local_sweep_of_12_runs_then_a_failed_run_and_its_rerun(tmp_path):
    path = write_sweep(tmp_path / "twelve.yaml", axes={"model.kind": ["rnn", "lstm", "grid"],
                                                       "task.length": [5, 7], "seed": [0, 1]})
    runner = CliRunner()
    r = runner.invoke(cli, ["sweep", str(path), "--out", str(tmp_path / "out"), "--jobs", "2",
                            "--device", "cpu"])
    assert r.exit_code == 0, r.output
    sweep_dir = Path(r.output.strip().splitlines()[-1])
    assert sweep_dir.parent == tmp_path / "out" / "sweeps" / "t"
    for name in ("sweep.yaml", "expansion.json", "meta.json", "status.csv", "results.md", "report.csv"):
        assert (sweep_dir / name).is_file()
    assert meta(sweep_dir)["status"] == "completed"
    assert all(meta(p)["torch_threads"] == threads_per_job(2) for p in (sweep_dir / "runs").iterdir())
    check_results(sweep_dir, 12)
    assert "mean ± std over seeds" in r.output

    # A run whose checkpoint got corrupted while it was interrupted: resuming it fails, the sweep
    # goes on, the table marks it, its traceback is in its folder; the other runs are not touched.
    victim = sweep_dir / "runs" / "kind=grid,length=7,seed=1"
    m = meta(victim)
    (victim / "meta.json").write_text(json.dumps({**m, "status": "interrupted"}))
    (victim / "checkpoint.pt").write_bytes(b"not a checkpoint")
    before = {p.name: (p / "summary.json").stat().st_mtime_ns for p in (sweep_dir / "runs").iterdir()}
    r = runner.invoke(cli, ["sweep", str(sweep_dir), "--jobs", "2", "--device", "cpu"])
    assert r.exit_code == 1, r.output
    assert "failed kind=grid,length=7,seed=1" in r.output and "1 failed" in r.output
    assert "corrupt or foreign checkpoint" in (victim / "traceback.txt").read_text()
    row = next(x for x in read_csv(sweep_dir / "status.csv") if x["id"] == victim.name)
    assert row["status"] == "failed" and "GridlstmError" in row["error"]
    after = {p.name: (p / "summary.json").stat().st_mtime_ns for p in (sweep_dir / "runs").iterdir()}
    assert {k for k in before if before[k] != after[k]} == set()
    group = next(g for g in read_csv(sweep_dir / "results.csv")
                 if g["model.kind"] == "grid" and g["task.length"] == "7")
    assert (group["finished"], group["failed"]) == ("1", "1")

    # Re-running the folder runs only the failed run, from scratch; its attempt is kept aside.
    r = runner.invoke(cli, ["sweep", str(sweep_dir), "--jobs", "2", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert (sweep_dir / "attempts" / f"{victim.name}.1" / "traceback.txt").is_file()
    assert not (victim / "traceback.txt").exists()
    check_results(sweep_dir, 12)
    assert meta(sweep_dir)["attempts"][-1]["runs_to_do"] == 1


# ----------------------------------------------------------------------------- interruptions
