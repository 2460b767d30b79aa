"""The MLflow UI (pip install '.[mlflow,mlflow-ui]') opens a store gridlstm wrote and lists its run,
with gradcheck's numbers: served on 127.0.0.1 by this test, asked through its REST API."""
from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from gridlstm.cli.main import cli
from tests.test_tensorboard_and_numbers import ARGS

HAS_UI = importlib.util.find_spec("mlflow") is not None and importlib.util.find_spec("mlflow.server") is not None \
    and importlib.util.find_spec("flask") is not None
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not HAS_UI, reason="the MLflow UI is an optional extra: pip install '.[mlflow,mlflow-ui]'")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ask(port: int, path: str, body: dict) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_the_ui_lists_a_run_this_project_wrote(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = CliRunner().invoke(cli, ["train", *ARGS, f"tracking.uri={uri}", "tracking.experiment=ui",
                                      "--out", str(tmp_path / "out"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    assert CliRunner().invoke(cli, ["gradcheck", str(run_dir), "--device", "cpu"]).exit_code == 0
    port = free_port()
    ui = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1",
                           "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 240  # a generous bound for a busy machine, not a speed check
        while True:
            try:
                experiments = ask(port, "/api/2.0/mlflow/experiments/search", {"max_results": 100})
                break
            except OSError:
                assert ui.poll() is None, ui.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "the MLflow UI did not answer"
                time.sleep(1)
        [exp] = [e for e in experiments["experiments"] if e["name"] == "ui"]
        found = ask(port, "/api/2.0/mlflow/runs/search", {"experiment_ids": [exp["experiment_id"]]})["runs"]
        [run] = found
        tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
        metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
        assert tags["gridlstm.run_dir"] == str(run_dir.resolve())
        assert "grad/h/L2/slope" in metrics and metrics["outcome/steps"] == 12
    finally:
        ui.terminate()
        try:
            ui.wait(timeout=30)
        except subprocess.TimeoutExpired:
            ui.kill()
