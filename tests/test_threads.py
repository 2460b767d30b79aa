"""The thread policy (gridlstm/threads.py, ``train.threads``): what it chooses, that an explicit
setting wins, that meta.json records the choice, and that the console entry point sets the OpenMP
wait policy before torch loads."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gridlstm.config import build_config
from gridlstm.runs.records import Meta
from gridlstm.threads import WORK_PER_THREAD, apply_threads, choose_threads, passive_wait_env, usable_cores
from gridlstm.train.lifecycle import start_run

ROOT = Path(__file__).resolve().parent.parent
NO_ENV: dict[str, str] = {}


def test_auto_follows_the_problem_size():
    # work = B · 2H · 4H multiply-adds per step; one thread per WORK_PER_THREAD of them
    assert choose_threads("auto", 32, 32, cores=8, env=NO_ENV).threads == 1      # 262 144: the default config
    assert choose_threads("auto", 32, 64, cores=8, env=NO_ENV).threads == 2      # 1 048 576
    assert choose_threads("auto", 32, 128, cores=8, env=NO_ENV).threads == 8     # 4 194 304
    assert choose_threads("auto", 1, 1, cores=8, env=NO_ENV).threads == 1        # never 0
    B, H = 1, 64
    assert B * 8 * H * H < WORK_PER_THREAD and choose_threads("auto", B, H, cores=4, env=NO_ENV).threads == 1


def test_auto_never_exceeds_the_usable_cores_or_the_cap():
    assert choose_threads("auto", 512, 1024, cores=3, env=NO_ENV).threads == 3
    big = choose_threads("auto", 512, 1024, cores=16, cap=2, env=NO_ENV)
    assert big.threads == 2 and "at most 2 per run" in big.reason
    assert choose_threads(6, 1, 1, cores=16, cap=2, env=NO_ENV).threads == 2      # a number is capped too
    assert choose_threads(6, 1, 1, cores=2, env=NO_ENV).threads == 6              # but not by the cores


def test_an_explicit_omp_num_threads_always_wins():
    for setting in ("auto", 4):
        c = choose_threads(setting, 512, 1024, cores=16, cap=8, env={"OMP_NUM_THREADS": "3"})
        assert c.threads == 3 and "OMP_NUM_THREADS=3" in c.reason and c.setting == str(setting)
    # not a number: torch ignores it, and so does the policy
    assert choose_threads("auto", 32, 32, cores=8, env={"OMP_NUM_THREADS": "many"}).threads == 1


def test_apply_sets_torch_and_respects_the_environment(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        assert apply_threads("auto", 4096, 1024).threads == 1 and torch.get_num_threads() == 1
        monkeypatch.delenv("OMP_NUM_THREADS")
        assert apply_threads(2, 1, 1).threads == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_usable_cores_is_the_affinity_mask():
    assert usable_cores() == len(os.sched_getaffinity(0))
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from gridlstm.threads import usable_cores, choose_threads; "
            "print(usable_cores(), choose_threads('auto', 4096, 1024, env={}).threads)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout.split()
    assert out == ["1", "1"]


def test_passive_wait_env_keeps_a_users_policy():
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    passive_wait_env(env)
    assert env == {"OMP_WAIT_POLICY": "ACTIVE"}
    env = {}
    passive_wait_env(env)
    assert env == {"OMP_WAIT_POLICY": "PASSIVE"}


def test_threads_config_key_rejects_bad_values():
    assert build_config({"train": {"threads": 3}}).train.threads == 3
    assert build_config({}).train.threads == "auto"
    from gridlstm.errors import ConfigError
    for bad in ("fast", 0, True, 1.5):
        with pytest.raises(ConfigError, match="train.threads: expected auto or a number"):
            build_config({"train": {"threads": bad}})


def test_meta_json_records_the_choice(tmp_path, one_thread):
    cfg = build_config({"name": "thr", "task": {"name": "adding", "length": 6},
                        "model": {"kind": "lstm", "hidden": 4, "layers": 1},
                        "train": {"steps": 2, "batch_size": 2, "eval_every": 2, "eval_batches": 1},
                        "gradients": {"at_steps": [], "at_end": False}})
    run = Path(start_run(cfg, tmp_path, "cpu", argv=["test"]).run_dir)
    meta = json.loads((run / "meta.json").read_text())
    expected = choose_threads("auto", 2, 4)
    assert meta["threads"]["setting"] == "auto" and meta["threads"]["threads"] == expected.threads
    assert meta["threads"]["reason"] == expected.reason and meta["torch_threads"] == expected.threads
    # a meta.json written before train.threads existed still loads, without the record
    old = {k: v for k, v in meta.items() if k != "threads"}
    assert Meta.from_json(old).threads is None and "threads" not in Meta.from_json(old).to_json()
    assert Meta.from_json(meta).to_json()["threads"] == meta["threads"]


# The entry point, in a process of its own: the wait policy must be in os.environ when torch is
# first imported (a meta-path finder sees the import), and torch must not be imported before.
PROBE = """
import importlib.abc, os, sys
seen = []
class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and not seen:
            seen.append(os.environ.get("OMP_WAIT_POLICY"))
        return None
sys.meta_path.insert(0, Watch())
assert "torch" not in sys.modules
from gridlstm.cli import launch
sys.argv = ["gridlstm", "train", "configs/default.yaml", "train.steps=1", "train.eval_every=1",
            "train.eval_batches=1", "gradients.at_steps=[]", "gradients.at_end=false", "--out", sys.argv[1]]
try:
    launch.main()
except SystemExit as e:
    assert not e.code, e.code
print("torch-imported-with", seen[0], "env", os.environ.get("OMP_WAIT_POLICY"), file=sys.stderr)
"""


@pytest.mark.parametrize("given, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_entry_point_sets_the_wait_policy_before_torch_loads(tmp_path, given, expected):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env.update({"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **({"OMP_WAIT_POLICY": given} if given else {})})
    proc = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"torch-imported-with {expected} env {expected}" in proc.stderr
