"""One run lifecycle for train, resume and sweeps; run folders that exist only whole; the records.

The reference for "exactly as gridlstm train" is an uninterrupted ``start_run`` of the same config in
this process, one torch thread everywhere (the sweep worker sets one): profiles.csv byte for byte,
weights with torch.equal.
"""
from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import torch

from gridlstm.config import build_config
from gridlstm.runs.folder import METRIC_FIELDS, load_checkpoint, read_metrics
from gridlstm.runs.records import Meta, Status, Summary
from gridlstm.runs.run import RunFolder
from gridlstm.sweep.executors import RunJob, execute
from gridlstm.train.lifecycle import resume_run, start_run
from gridlstm.train.signals import StopSignals
from gridlstm.train.trainer import Trainer

ROOT = Path(__file__).resolve().parent.parent
COMPARED = [f for f in METRIC_FIELDS if f != "seconds"]
# meta.json and summary.json keys as gridlstm 0.1 wrote them (plus threads, the thread choice): the typed records keep them
META_KEYS = ["argv", "status", "started", "ended", "git", "python", "torch", "numpy", "host", "platform",
             "device", "torch_threads", "seed", "pid", "executable", "checkpoint_step", "schedule", "threads"]
SUMMARY_KEYS = ["name", "run_dir", "status", "task", "length", "model", "variant", "tied", "layers", "hidden",
                "params", "steps", "eval_loss", "chance", "chance_heldout", "metric_name", "eval_metric", "target",
                "solved", "wall_seconds", "device", "skipped_steps", "checkpoint_step", "signal", "error"]


def config(**train):
    return build_config({"name": "life", "seed": 4, "task": {"name": "adding", "length": 8},
                         "model": {"kind": "grid", "hidden": 6, "layers": 2},
                         "train": {"steps": 24, "batch_size": 4, "eval_every": 8, "eval_batches": 1,
                                   "log_every": 1, "checkpoint_every": 5, "early_stop": False, **train},
                         "gradients": {"at_steps": [0, 7, 13], "batch_size": 4}})


@pytest.fixture(autouse=True)
def _one_thread_everywhere(one_thread):
    """Every test here runs with one torch thread (the conftest fixture)."""


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return Path(start_run(config(), tmp_path_factory.mktemp("ref"), "cpu", argv=["test"]).run_dir)
    finally:
        torch.set_num_threads(before)


def assert_same_run(a: Path, b: Path) -> None:
    rows = [[tuple(r[f] for f in COMPARED) for r in read_metrics(d / "metrics.csv")] for d in (a, b)]
    assert rows[0] == rows[1]
    assert (a / "gradients/profiles.csv").read_text() == (b / "gradients/profiles.csv").read_text()
    ma, mb = load_checkpoint(a / "checkpoint.pt")["model"], load_checkpoint(b / "checkpoint.pt")["model"]
    assert ma.keys() == mb.keys() and all(torch.equal(ma[k], mb[k]) for k in ma)


def stop_after(step: int) -> tuple[StopSignals, tuple]:
    """A stop request (as the first Ctrl-C makes it) seen after ``step``."""
    stop = StopSignals()

    def press(trainer: Trainer) -> None:
        if trainer.step == step:
            stop.signum = signal.SIGINT

    return stop, (press,)


# ----------------------------------------------------------------------------- one lifecycle


def test_reference_records_profiles_at_the_chosen_steps_and_the_end(reference):
    steps = sorted({int(line.split(",", 1)[0]) for line in
                    (reference / "gradients/profiles.csv").read_text().splitlines()[1:]})
    assert steps == [0, 7, 13, 24]


def test_a_sweep_run_records_gradients_exactly_as_train_does(tmp_path, reference):
    job = RunJob("run-1", config(), str(tmp_path / "runs" / "run-1"), device="cpu", gradients=False,
                 argv=("gridlstm", "sweep"))
    assert execute(job) == Status.COMPLETED
    assert_same_run(Path(job.run_dir), reference)
    meta = json.loads((Path(job.run_dir) / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["argv"] == ["gridlstm", "sweep"]


@pytest.mark.parametrize("at", [3, 10])
def test_a_resumed_run_records_gradients_exactly_as_train_does(tmp_path, reference, at):
    stop, hooks = stop_after(at)
    summary = start_run(config(), tmp_path, "cpu", argv=["test"], hooks=hooks, stop=stop)
    assert summary.status == Status.INTERRUPTED and summary.checkpoint_step == at
    assert resume_run(summary.run_dir, device="cpu", argv=["test"]).status == Status.COMPLETED
    assert_same_run(Path(summary.run_dir), reference)


def test_a_continued_sweep_run_records_gradients_exactly_as_train_does(tmp_path, reference):
    stop, hooks = stop_after(9)
    run_dir = tmp_path / "runs" / "run-1"
    assert start_run(config(), run_dir=run_dir, device="cpu", hooks=hooks, stop=stop).status == "interrupted"
    job = RunJob("run-1", config(), str(run_dir), device="cpu", gradients=False, resume=True)
    assert execute(job) == Status.COMPLETED
    assert_same_run(run_dir, reference)


# ----------------------------------------------------------------------------- records


def test_meta_and_summary_keep_their_json_fields(reference):
    meta = json.loads((reference / "meta.json").read_text())
    summary = json.loads((reference / "summary.json").read_text())
    assert list(meta) == META_KEYS and list(summary) == SUMMARY_KEYS
    assert meta["status"] == summary["status"] == "completed" and meta["checkpoint_step"] == 24
    assert Meta.from_json(meta).to_json() == meta
    assert Summary.from_json(summary).to_json() == summary
    run = RunFolder.open(reference)
    assert run.meta().status is Status.COMPLETED and run.summary().steps == 24


def test_meta_keeps_keys_it_does_not_know_and_drops_a_past_ending_on_resume():
    orders = {"train": "layerwise", "probe": "wavefront"}
    data = {**dict.fromkeys(META_KEYS[:-2], None), "status": "interrupted", "signal": "SIGTERM",
            "checkpoint_step": 3, "schedule": orders, "written_by": "a later gridlstm"}
    meta = Meta.from_json(data)
    assert meta.extra == {"written_by": "a later gridlstm"} and meta.schedule == orders
    assert meta.to_json() == data
    again = meta.resumed({"from_step": 3}).to_json()
    assert again["status"] == "running" and again["resumes"] == [{"from_step": 3}]
    assert "signal" not in again and "checkpoint_step" not in again
    assert again["schedule"] == orders and again["written_by"] == "a later gridlstm"


def test_status_is_its_string():
    assert Status("diverged") is Status.DIVERGED and Status.COMPLETED == "completed"
    assert {"completed": 1}[Status.COMPLETED] == 1 and f"{Status.FAILED}" == "failed"
    assert json.dumps([Status.INTERRUPTED]) == '["interrupted"]'
    assert [s.finished for s in Status] == [False, True, False, False, True]


def test_one_lock_and_one_atomic_writer_in_the_library():
    """File locks, temporary files and renames over a target live in runs/folder.py only."""
    for path in [*(ROOT / "gridlstm").rglob("*.py"), *(ROOT / "cli").rglob("*.py")]:
        if path == ROOT / "gridlstm/runs/folder.py":
            continue
        text = path.read_text()
        for needle in ("flock(", "mkstemp", "os.replace(", "NamedTemporaryFile"):
            assert needle not in text, f"{path.relative_to(ROOT)} uses {needle}"

