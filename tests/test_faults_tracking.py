"""Fault injection, tracking: a tracking URI that cannot work is refused before anything starts
(exit 2, one line, no folder, nothing created); a server that does not answer (a closed port on
127.0.0.1) costs one warning line and a few seconds, and the run trains untracked."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from gridlstm.cli.main import cli
from tests.test_tracking import HAS_MLFLOW, TRAIN_ARGS
from tests.test_tracking import cli as run_cli

needs_mlflow = pytest.mark.skipif(not HAS_MLFLOW, reason="MLflow is an optional extra")
CLOSED = "http://127.0.0.1:9/"  # the discard port: nothing listens on it here
SWEEP = "base: tiny.yaml\naxes: {seed: [0]}\n"
TINY = ("task: {name: adding, length: 5}\nmodel: {kind: lstm, hidden: 4, layers: 1}\n"
        "train: {steps: 2, eval_every: 1, batch_size: 4, eval_batches: 1}\n")


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def commands(tmp_path: Path, uri: str) -> list[list[str]]:
    (tmp_path / "tiny.yaml").write_text(TINY)
    (tmp_path / "s.yaml").write_text(SWEEP)
    (tmp_path / "run").mkdir(exist_ok=True)
    return [["train", "tiny.yaml", "--tracking-uri", uri, "--out", "out"],
            ["train", "tiny.yaml", f"tracking.uri={uri}", "--out", "out"],
            ["sweep", "s.yaml", "--tracking-uri", uri, "--out", "out"],
            ["export", "run", "--to", uri]]


BAD = [("htp:://x", "has scheme 'htp'"), ("not a uri at all", "is not a URI"),
       ("http://", "names no host"), ("http://127.0.0.1:99999/", "malformed"),
       ("sqlite://relative.db", "a SQLite URI is sqlite:///"),
       ("sqlite:///no/such/dir/m.db", "folder no/such/dir does not exist (it is not created"),
       ("sqlite:///notdb.db", "is not a SQLite database"), ("/plain/path", "has no scheme")]


@needs_mlflow
@pytest.mark.parametrize("uri,message", BAD, ids=[b[0] for b in BAD])
def test_a_uri_that_cannot_work_is_refused_before_anything_starts(tmp_path, monkeypatch, uri, message):
    monkeypatch.chdir(tmp_path)
    for args in commands(tmp_path, uri):
        (tmp_path / "notdb.db").write_text("these are not the pages of a database\n")
        before = tree(tmp_path)
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, (args, result.stderr, result.exception)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: tracking URI") and message in lines[0], lines
        assert tree(tmp_path) == before, "no folder, no database, nothing created"
        assert (tmp_path / "notdb.db").read_text().startswith("these are not")


@needs_mlflow
@pytest.mark.slow
def test_a_closed_port_costs_one_warning_line_and_seconds(tmp_path):
    """Done when: train --tracking-uri http://127.0.0.1:9/ finishes within 20 s of the same run
    without tracking (both measured here, under the same load), with one warning line."""
    args = [*TRAIN_ARGS, "--device", "cpu", "--out", str(tmp_path / "out")]
    start = time.monotonic()
    plain = run_cli("train", *args, cwd=tmp_path)
    untracked = time.monotonic() - start
    start = time.monotonic()
    r = run_cli("train", *args, "--tracking-uri", CLOSED, cwd=tmp_path)
    tracked = time.monotonic() - start
    assert plain.returncode == 0 and r.returncode == 0, r.stderr[-2000:]
    assert tracked < untracked + 20, (tracked, untracked)
    warnings = [line for line in r.stderr.splitlines() if "MLflow" in line or "mlflow" in line]
    assert warnings == [f"warning: MLflow tracking at {CLOSED} failed (reach the store: connection refused); "
                        "training goes on without tracking. The run folder has everything: gridlstm export "
                        f"RUN_DIR --to {CLOSED}"], r.stderr
    assert "Traceback" not in r.stderr


@needs_mlflow
def test_export_to_a_closed_port_is_exit_2_at_once(tmp_path, toy_run, monkeypatch):
    monkeypatch.chdir(tmp_path)
    start = time.monotonic()
    result = CliRunner().invoke(cli, ["export", str(toy_run), "--to", CLOSED])
    assert time.monotonic() - start < 60  # one attempt of PROBE_SECONDS, not MLflow's minutes of retries
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"Error: MLflow at {CLOSED}: reach the store failed: "
                                                  "connection refused"]


@needs_mlflow
def test_the_limits_yield_to_the_users_own_mlflow_settings(monkeypatch):
    import os

    from gridlstm.tracking_checks import MlflowLog, bounded

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "77")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    with bounded(MlflowLog(), probe=True):
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "77"
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "0"
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ  # put back as it was


@needs_mlflow
def test_mlflow_log_records_stay_off_the_terminal(capsys):
    import logging

    from gridlstm.tracking_checks import MlflowLog, bounded

    log = MlflowLog()
    with bounded(log):
        logging.getLogger("mlflow.store.db.utils").error("Traceback (most recent call last):\n  File x")
        logging.getLogger("alembic.runtime").warning("second")
    assert log.first == "Traceback (most recent call last): File x"
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out


@needs_mlflow
def test_a_read_only_sqlite_store_is_refused_before_anything_starts(tmp_path, monkeypatch):
    """A store that cannot be written (a read-only bind mount, or no write bit) is bad input: exit
    2, one line, before any run folder; MLflow's tracebacks never reach the terminal."""
    from mlflow.tracking import MlflowClient

    from tests.test_exit_codes import read_only

    store = tmp_path / "store"
    store.mkdir()
    MlflowClient(f"sqlite:///{store / 'm.db'}").search_experiments()  # a real MLflow database
    (tmp_path / "tiny.yaml").write_text(TINY)
    monkeypatch.chdir(tmp_path)
    with read_only(store):
        result = CliRunner().invoke(cli, ["train", "tiny.yaml", "--tracking-uri", "sqlite:///store/m.db",
                                          "--out", "out"])
    assert result.exit_code == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: tracking URI 'sqlite:///store/m.db': "), line
    assert "store/m.db is read-only; fix its permissions" in line or "cannot write in store" in line, line
    assert not (tmp_path / "out").exists()
