"""gridlstm sweep --executor ray on a real Ray instance: started here on loopback with 2 CPUs (one
start for the module), driven by `gridlstm sweep --address 127.0.0.1:PORT` in another process,
stopped at the end."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from gridlstm.sweep.folder import open_sweep_dir
from tests.test_sweep import TINY, check_results, meta, read_csv

# not importorskip: ray must first be imported by start_local_ray, which keeps it on loopback
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                 reason="Ray is an optional extra: pip install '.[ray]'")]

GRIDLSTM = Path(sys.executable).parent / "gridlstm"


@pytest.fixture(scope="module")
def ray_cluster():
    from gridlstm.sweep.executors import start_local_ray

    ray = start_local_ray(num_cpus=2)
    try:
        yield ray
    finally:
        ray.shutdown()


def test_ray_listens_on_loopback_only(ray_cluster):
    address = ray_cluster.get_runtime_context().gcs_address
    assert address.rsplit(":", 1)[0] == "127.0.0.1"
    nodes = ray_cluster.nodes()
    assert [n["NodeManagerAddress"] for n in nodes] == ["127.0.0.1"]
    assert ray_cluster.cluster_resources()["CPU"] == 2


def test_ray_workers_run_at_the_drivers_priority(ray_cluster):
    """Ray would nice its workers by 15: beside any busy process the runs would all but stop."""
    import os

    @ray_cluster.remote
    def niceness() -> int:
        return os.nice(0)

    assert ray_cluster.get(niceness.remote()) == os.nice(0)


def test_ray_sweep_of_12_runs(ray_cluster, tmp_path):
    data = {"name": "t", "config": json.loads(json.dumps(TINY)),
            "axes": {"model.kind": ["rnn", "lstm", "grid"], "task.length": [5, 7], "seed": [0, 1]}}
    path = tmp_path / "twelve.yaml"
    path.write_text(yaml.safe_dump(data))
    address = ray_cluster.get_runtime_context().gcs_address
    r = subprocess.run([str(GRIDLSTM), "sweep", str(path), "--executor", "ray", "--address", address,
                        "--num-cpus", "1", "--out", str(tmp_path / "out"), "--device", "cpu"],
                       capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    sweep_dir = Path(r.stdout.strip().splitlines()[-1])
    assert f"ray: {address}; 1 CPU / 0 GPU per run" in r.stderr
    assert meta(sweep_dir)["status"] == "completed"
    check_results(sweep_dir, 12)  # every run folder, the grouped table against a recomputation
    for run in open_sweep_dir(sweep_dir).runs:
        folder = sweep_dir / "runs" / run.id
        assert meta(folder)["torch_threads"] == 1  # num_cpus per run
        assert torch.load(folder / "checkpoint.pt", weights_only=True)["config"]["seed"] == run.values["seed"]
        assert not (folder / "traceback.txt").exists()
    assert len(read_csv(sweep_dir / "status.csv")) == 12
