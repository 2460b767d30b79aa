"""MLflow tracking against the real mlflow package: a SQLite backend store and an artifact root
under tmp, read back with mlflow.search_runs. No mocks, no network (an unreachable server is
127.0.0.1:1). Old run folders without a ``tracking`` section still resume."""
from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gridlstm.config import Config, build_config, config_diff
from tests.test_sweep import TINY

ROOT = Path(__file__).resolve().parent.parent
HAS_MLFLOW = importlib.util.find_spec("mlflow") is not None
needs_mlflow = pytest.mark.skipif(not HAS_MLFLOW, reason="MLflow is an optional extra: pip install '.[mlflow]'")
TRAIN_ARGS = ["task.length=6", "model.kind=lstm", "model.hidden=4", "model.layers=1", "train.steps=12",
              "train.batch_size=8", "train.eval_every=6", "train.eval_batches=1", "train.log_every=3"]


def cli(*args: str, cwd: Path, env: dict | None = None, first: str = "") -> subprocess.CompletedProcess:
    """``gridlstm ARGS`` from this checkout (PYTHONPATH, after ``first``), in its own process."""
    path = os.pathsep.join(p for p in (first, str(ROOT)) if p)
    return subprocess.run([sys.executable, "-m", "gridlstm.cli.main", *args], capture_output=True, text=True,
                          timeout=240, cwd=cwd, env={**os.environ, "PYTHONPATH": path, **(env or {})})


def store(tmp_path: Path, experiment: str) -> str:
    """A SQLite store whose experiment keeps its artifacts under tmp_path/artifacts."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    MlflowClient(uri).create_experiment(experiment, artifact_location=str(tmp_path / "artifacts"))
    return uri


def runs(uri: str, experiment: str) -> list:
    import mlflow

    mlflow.set_tracking_uri(uri)
    return mlflow.search_runs(experiment_names=[experiment], output_format="list")


def history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    from mlflow.tracking import MlflowClient

    return sorted((m.step, m.value) for m in MlflowClient(uri).get_metric_history(run_id, key))


def artifacts(uri: str, run_id: str, path: str | None = None) -> set[str]:
    from mlflow.tracking import MlflowClient

    return {Path(a.path).name for a in MlflowClient(uri).list_artifacts(run_id, path)}


def metric_rows(run_dir: Path, split: str) -> list[dict]:
    with open(run_dir / "metrics.csv") as f:
        return [r for r in csv.DictReader(f) if r["split"] == split]


def check_run(uri: str, run, run_dir: Path) -> None:
    """params = config.yaml; every metrics.csv row at its step; tags; artifacts."""
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert run.data.params["model.hidden"] == str(cfg["model"]["hidden"])
    assert run.data.params["seed"] == str(cfg["seed"])
    for split, keys in (("train", ("train/loss", "grad_norm", "lr")), ("eval", ("eval/loss", "eval/metric"))):
        rows = metric_rows(run_dir, split)
        assert rows
        for key in keys:
            column = {"train/loss": "loss", "eval/loss": "loss", "eval/metric": "metric"}.get(key, key)
            got = history(uri, run.info.run_id, key)
            assert [s for s, _ in got] == [int(r["step"]) for r in rows], key
            assert [v for _, v in got] == pytest.approx([float(r[column]) for r in rows]), key
    meta = json.loads((run_dir / "meta.json").read_text())
    assert run.data.tags["gridlstm.status"] == meta["status"] == "completed"
    assert run.data.tags.get("mlflow.source.git.commit") == meta["git"]["commit"]
    assert run.info.status == "FINISHED"
    assert {"config.yaml", "meta.json", "summary.json", "gradients"} <= artifacts(uri, run.info.run_id)
    assert "profiles.csv" in artifacts(uri, run.info.run_id, "gradients")


@needs_mlflow
@pytest.mark.slow
def test_train_logs_params_metrics_tags_and_artifacts(tmp_path):
    uri = store(tmp_path, "trk")
    r = cli("train", *TRAIN_ARGS, "tracking.experiment=trk", "--tracking-uri", uri, "--out",
            str(tmp_path / "out"), "--device", "cpu", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    run_dir = Path(r.stdout.strip().splitlines()[-1])
    [run] = runs(uri, "trk")
    check_run(uri, run, run_dir)
    assert run.data.tags["gridlstm.run_dir"] == str(run_dir.resolve())
    assert "warning" not in r.stderr

    # export of the same folder finds the same MLflow run and adds nothing twice
    e = cli("export", str(run_dir), "--to", uri, "--experiment", "trk", cwd=tmp_path)
    assert e.returncode == 0, e.stderr[-2000:]
    assert e.stdout.split() == [run.info.run_id]
    assert len(history(uri, run.info.run_id, "train/loss")) == len(metric_rows(run_dir, "train"))


@needs_mlflow
@pytest.mark.slow
def test_sweep_is_a_parent_run_with_one_child_per_run(tmp_path):
    uri = store(tmp_path, "t")
    data = {"name": "t", "config": json.loads(json.dumps(TINY)),
            "axes": {"model.kind": ["rnn", "lstm"], "seed": [0, 1]}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    r = cli("sweep", str(tmp_path / "s.yaml"), "--jobs", "2", "--out", str(tmp_path / "out"),
            "--device", "cpu", "--tracking-uri", uri, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    sweep_dir = Path(r.stdout.strip().splitlines()[-1])
    found = runs(uri, "t")
    [parent] = [x for x in found if "mlflow.parentRunId" not in x.data.tags]
    children = [x for x in found if x.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(found) == 5 and len(children) == 4
    assert parent.data.tags["gridlstm.run_dir"] == str(sweep_dir.resolve())
    assert {"results.csv", "sweep.yaml", "plots"} <= artifacts(uri, parent.info.run_id)
    for child in children:
        check_run(uri, child, Path(child.data.tags["gridlstm.run_dir"]))

    # export of the sweep folder to another store rebuilds the same structure
    other = f"sqlite:///{tmp_path / 'other.db'}"
    from mlflow.tracking import MlflowClient

    MlflowClient(other).create_experiment("t", artifact_location=str(tmp_path / "other-artifacts"))
    e = cli("export", str(sweep_dir), "--to", other, cwd=tmp_path)
    assert e.returncode == 0, e.stderr[-2000:]
    again = runs(other, "t")
    [top] = [x for x in again if "mlflow.parentRunId" not in x.data.tags]
    assert e.stdout.split() == [top.info.run_id]
    assert sum(x.data.tags.get("mlflow.parentRunId") == top.info.run_id for x in again) == 4


@needs_mlflow
@pytest.mark.slow
def test_unreachable_server_warns_once_and_training_goes_on(tmp_path):
    env = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "2"}
    r = cli("train", *TRAIN_ARGS, "--tracking-uri", "http://127.0.0.1:1", "--out", str(tmp_path / "out"),
            "--device", "cpu", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stderr.count("warning: MLflow tracking at http://127.0.0.1:1 failed") == 1
    run_dir = Path(r.stdout.strip().splitlines()[-1])
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"


@pytest.mark.slow
def test_missing_extra_is_one_line_and_exit_2(tmp_path):
    fake = tmp_path / "shadow" / "mlflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no mlflow here')\n")
    for args in (["train", *TRAIN_ARGS, "--tracking-uri", "sqlite:///x.db"],
                 ["export", str(tmp_path), "--to", "sqlite:///x.db"],
                 ["sweep", str(ROOT / "configs" / "sweeps" / "seed_variance.yaml"), "--tracking-uri", "sqlite:///x.db"]):
        r = cli(*args, cwd=tmp_path, first=str(fake.parent))
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip().splitlines() == [
            "Error: MLflow tracking needs the optional extra: pip install '.[mlflow]' "
            "(or pip install 'mlflow-skinny>=2.10' sqlalchemy alembic)"]
    assert not (tmp_path / "outputs").exists()  # refused before any run folder


def test_train_without_tracking_imports_no_mlflow(tmp_path):
    code = ("import sys\nfrom gridlstm.cli.main import cli\n"
            f"try:\n    cli({['train', *TRAIN_ARGS, 'train.steps=1', '--out', str(tmp_path), '--device', 'cpu']!r})\n"
            "except SystemExit as e:\n    assert e.code == 0, e.code\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'mlflow'))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_a_config_saved_without_the_tracking_section_is_no_change():
    new = Config().to_dict()
    old = {k: v for k, v in new.items() if k != "tracking"}
    assert config_diff(old, new) == [] and config_diff(new, old) == []
    changed = build_config({"tracking": {"uri": "sqlite:///m.db"}}).to_dict()
    assert config_diff(old, changed) == ["tracking.uri: None -> sqlite:///m.db"]


@needs_mlflow
def test_metrics_reach_mlflow_while_the_run_trains(tmp_path):
    """The hook sends each eval point's rows in one batch during training, not only at the end."""
    from gridlstm.config import load_config
    from gridlstm.tracking import LiveMetrics, Tracker
    from gridlstm.train.lifecycle import start_run

    uri = store(tmp_path, "live")
    live, seen = LiveMetrics(Tracker(uri), "live"), {}

    def look(trainer):
        if trainer.step == 8 and live.run_id is not None:
            seen["eval"] = [s for s, _ in history(uri, live.run_id, "eval/loss")]
            seen["train"] = [s for s, _ in history(uri, live.run_id, "train/loss")]

    summary = start_run(load_config(None, TRAIN_ARGS), tmp_path / "out", device="cpu", hooks=(live, look))
    assert seen == {"eval": [0, 6], "train": [3, 6]}  # rows up to step 6, sent at step 7
    live.finish(Path(summary.run_dir))
    [run] = runs(uri, "live")
    check_run(uri, run, Path(summary.run_dir))


@needs_mlflow
def test_a_tracking_failure_while_training_is_told_once_and_never_printed_by_the_library(tmp_path, capfd):
    """A real MLflow error (a run id the store does not hold): the warning goes to the caller's
    ``warn`` once, later calls do nothing, and the library itself writes nothing on stdout/stderr."""
    from gridlstm.tracking import Tracker

    told: list[str] = []
    tracker = Tracker(store(tmp_path, "broken"), warn=told.append)
    assert tracker.safe("end run", tracker.client.set_terminated, "0" * 32, "FINISHED") is None
    assert tracker.broken and tracker.safe("end run", tracker.client.set_terminated, "0" * 32) is None
    assert len(told) == 1 and told[0].startswith(f"warning: MLflow tracking at {tracker.uri} failed (end run: ")
    out, err = capfd.readouterr()
    assert "warning: MLflow" not in out + err
