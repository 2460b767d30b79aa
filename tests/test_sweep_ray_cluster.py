"""A sweep on a multi-node Ray cluster ships the gridlstm code to the workers (runtime_env).

ray.cluster_utils.Cluster starts a head and a second node on this machine, each with 1 CPU and
bound to 127.0.0.1; `gridlstm sweep --executor ray --address` runs 2 runs on it from another
process, and each run folder tells where its worker imported gridlstm from: the package Ray
unpacked from the driver's upload, not this checkout nor the one installed in the venv.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gridlstm.sweep.executors import LOOPBACK_ENV
from tests.test_sweep import TINY, meta

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                 reason="Ray is an optional extra: pip install '.[ray]'")]


@pytest.fixture(scope="module")
def cluster():
    if "ray" not in sys.modules:  # read when ray is imported: keeps every node on loopback
        os.environ.setdefault(LOOPBACK_ENV, "0")
    if os.environ.get(LOOPBACK_ENV) != "0":
        pytest.skip(f"ray was imported without {LOOPBACK_ENV}=0: its nodes would not stay on loopback")
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "include_dashboard": False}
    c = Cluster(initialize_head=True, head_node_args=node)
    try:
        c.add_node(**{k: v for k, v in node.items() if k != "include_dashboard"})
        c.wait_for_nodes()
        yield c
    finally:
        c.shutdown()


def test_two_node_cluster_on_loopback_runs_a_sweep_with_shipped_code(cluster, tmp_path):
    assert cluster.address.rsplit(":", 1)[0] == "127.0.0.1"
    assert [n.node_ip_address for n in cluster.list_all_nodes()] == ["127.0.0.1", "127.0.0.1"]
    data = {"name": "t", "config": json.loads(json.dumps(TINY)), "axes": {"seed": [0, 1]}}
    (tmp_path / "two.yaml").write_text(yaml.safe_dump(data))
    r = subprocess.run([sys.executable, "-m", "gridlstm.cli.main", "sweep", str(tmp_path / "two.yaml"), "--executor",
                        "ray", "--address", cluster.address, "--num-cpus", "1", "--no-gradients",
                        "--out", str(tmp_path / "out"), "--device", "cpu"],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(ROOT), LOOPBACK_ENV: "0"})
    assert r.returncode == 0, r.stderr[-3000:]
    sweep_dir = Path(r.stdout.strip().splitlines()[-1])
    assert meta(sweep_dir)["status"] == "completed"
    for run in ("seed=0", "seed=1"):
        folder = sweep_dir / "runs" / run
        assert json.loads((folder / "summary.json").read_text())["status"] == "completed"
        origin = (folder / "output.log").read_text()
        assert "gridlstm from " in origin, origin
        shipped = origin.split("gridlstm from ", 1)[1].strip()
        assert "runtime_resources" in shipped and "py_modules" in shipped, shipped
        assert not shipped.startswith(str(ROOT)), shipped
