"""Exact resume, crash recovery, divergence and untrusted run folders, in-process (fast).

The reference for "exact" is an uninterrupted run of the same config in the same process: every
metrics.csv column but the wall-clock `seconds` and every weight must be bit-identical.
"""
from __future__ import annotations

import json
import math
import random
import re
import shutil
import signal
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from gridlstm.cli.main import cli
from gridlstm.config import build_config
from gridlstm.errors import GridlstmError
from gridlstm.runs.folder import (
    METRIC_FIELDS,
    FolderLock,
    load_checkpoint,
    read_metrics,
    save_checkpoint,
    truncate_metrics,
    write_json,
)
from gridlstm.train.lifecycle import resume_run as resume
from gridlstm.train.lifecycle import start_run as train
from gridlstm.train.signals import StopSignals
from gridlstm.train.trainer import Trainer

COMPARED = [f for f in METRIC_FIELDS if f != "seconds"]  # seconds is wall-clock
CPU = torch.device("cpu")


def config(**over):
    data = {"name": "r", "seed": 3, "task": {"name": "adding", "length": 10},
            "model": {"kind": "grid", "hidden": 8, "layers": 2},
            "train": {"steps": 40, "batch_size": 8, "eval_every": 10, "eval_batches": 1, "log_every": 1,
                      "checkpoint_every": 7, "early_stop": False}}
    for key, value in over.items():
        section, leaf = key.split("__")
        data[section][leaf] = value
    return build_config(data)


def rows(run_dir: Path) -> list[tuple]:
    return [tuple(r[f] for f in COMPARED) for r in read_metrics(run_dir / "metrics.csv")]


def weights(run_dir: Path) -> dict:
    return load_checkpoint(run_dir / "checkpoint.pt")


def assert_same_run(a: Path, b: Path) -> None:
    assert rows(a) == rows(b)
    ca, cb = weights(a), weights(b)
    assert ca["step"] == cb["step"]
    assert ca["model"].keys() == cb["model"].keys()
    assert all(torch.equal(ca["model"][k], cb["model"][k]) for k in ca["model"])
    sa, sb = ca["optimizer"]["state"], cb["optimizer"]["state"]
    assert all(torch.equal(sa[i][k], sb[i][k]) for i in sa for k in sa[i])


def interrupted_run(cfg, root: Path, at_step: int) -> Path:
    """A run stopped the way the first Ctrl-C stops it: the stop flag seen after step ``at_step``."""
    stop = StopSignals()

    def press_ctrl_c(trainer: Trainer) -> None:
        if trainer.step == at_step:
            stop.signum = signal.SIGINT

    summary = train(cfg, root, "cpu", argv=["test"], hooks=(press_ctrl_c,), stop=stop)
    assert summary.status == "interrupted" and summary.checkpoint_step == at_step
    return Path(summary.run_dir)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("ref")
    return {kind: Path(train(config(model__kind=kind), root, "cpu", argv=["test"]).run_dir)
            for kind in ("grid", "lstm")}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["grid", "lstm"])
@pytest.mark.parametrize("at_step", sorted(random.Random(5).sample(range(1, 40), 3)))
def test_interrupt_then_resume_equals_uninterrupted(tmp_path, reference, kind, at_step):
    run_dir = interrupted_run(config(model__kind=kind), tmp_path, at_step)
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "interrupted" and meta["checkpoint_step"] == at_step
    summary = resume(run_dir, device="cpu", argv=["test"])
    assert summary.status == "completed" and summary.steps == 40
    assert_same_run(run_dir, reference[kind])
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["resumes"][0]["from_step"] == at_step


def test_resume_after_a_crash_drops_rows_past_the_checkpoint(tmp_path, reference):
    """What kill -9 leaves: status running, rows past the checkpoint, a torn last line, a temp file."""
    run_dir = interrupted_run(config(), tmp_path, 12)
    meta = json.loads((run_dir / "meta.json").read_text())
    (run_dir / "meta.json").write_text(json.dumps({**meta, "status": "running"}))
    with open(run_dir / "metrics.csv", "a") as f:
        f.write("13,train,0.5,0.5,0.1,0.001,1.0\n14,train,0.4,0.4,0.1,0.001,1.1\n15,tra")
    (run_dir / ".checkpoint.pt.abc.tmp").write_bytes(b"half a checkpoint")
    assert resume(run_dir, device="cpu", argv=["test"]).status == "completed"
    assert_same_run(run_dir, reference["grid"])
    assert not list(run_dir.glob(".*.tmp"))


def test_a_run_killed_before_its_first_checkpoint_starts_over_in_its_folder(tmp_path, reference):
    run_dir = interrupted_run(config(), tmp_path, 3)
    meta = json.loads((run_dir / "meta.json").read_text())
    (run_dir / "meta.json").write_text(json.dumps({**meta, "status": "running"}))
    (run_dir / "checkpoint.pt").unlink()  # as if killed during the step-0 eval
    assert resume(run_dir, device="cpu", argv=["test"]).status == "completed"
    assert_same_run(run_dir, reference["grid"])


def test_truncate_metrics_keeps_complete_rows_up_to_the_step(tmp_path):
    path = tmp_path / "metrics.csv"
    head = ",".join(METRIC_FIELDS) + "\n"
    path.write_text(head + "0,eval,1,1,,0.1,0\n5,train,1,1,2,0.1,1\n6,train,1,1,2,0.1,1\n7,tr")
    assert truncate_metrics(path, 5) == 2
    assert path.read_text() == head + "0,eval,1,1,,0.1,0\n5,train,1,1,2,0.1,1\n"


def test_a_failed_checkpoint_write_leaves_the_previous_one_whole(tmp_path):
    """torch.save dies half-way (an unpicklable generator after the tensors): old file intact, no temp."""
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"format": 1, "model": {"w": torch.ones(3)}})
    before = path.read_bytes()
    with pytest.raises(TypeError, match="cannot pickle"):
        save_checkpoint(path, {"format": 1, "model": {"w": torch.zeros(1000)}, "bad": (i for i in ())})
    assert path.read_bytes() == before and load_checkpoint(path)["model"]["w"].tolist() == [1, 1, 1]
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_a_crash_before_the_rename_leaves_the_previous_json_whole(tmp_path, monkeypatch):
    path = tmp_path / "meta.json"
    write_json(path, {"status": "running"})

    def power_cut(fd):
        raise OSError("power cut")

    monkeypatch.setattr("gridlstm.runs.folder.os.fsync", power_cut)
    with pytest.raises(OSError):
        write_json(path, {"status": "completed"})
    assert json.loads(path.read_text()) == {"status": "running"}
    assert [p.name for p in tmp_path.iterdir()] == ["meta.json"]


def test_resuming_a_completed_run_does_nothing(tmp_path, reference):
    run_dir = tmp_path / "done"
    shutil.copytree(reference["grid"], run_dir)
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    r = CliRunner().invoke(cli, ["train", "--resume", str(run_dir)])
    assert r.exit_code == 0, r.output
    assert "already completed at step 40; nothing to do" in r.stderr
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before


def test_changed_config_is_refused_naming_the_keys_unless_forced(tmp_path, reference):
    run_dir = interrupted_run(config(), tmp_path, 5)
    before = (run_dir / "metrics.csv").read_text()
    r = CliRunner().invoke(cli, ["train", "--resume", str(run_dir), "train.lr=0.01", "model.layers=2"])
    assert r.exit_code == 2
    assert r.stderr.strip() == ("Error: config differs from the run's (train.lr: 0.001 -> 0.01); resume "
                                "without changes, or add --force to continue with the new values")
    assert (run_dir / "metrics.csv").read_text() == before
    r = CliRunner().invoke(cli, ["train", "--resume", str(run_dir), "--force", "train.lr=0.01"])
    assert r.exit_code == 0, r.output
    after = read_metrics(run_dir / "metrics.csv")
    assert {float(x["lr"]) for x in after if int(x["step"]) > 5} == {0.01}
    assert rows(run_dir)[:6] == rows(reference["grid"])[:6]  # steps 0..5 kept as they were
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["resumes"][-1]["forced_changes"] == ["train.lr: 0.001 -> 0.01"]


@pytest.mark.parametrize("damage,message", [
    ("truncate", "corrupt or foreign checkpoint"),
    ("foreign-pickle", "corrupt or foreign checkpoint"),
    ("not-gridlstm", "is not a gridlstm checkpoint"),
    ("other-run", "was written for another config than the folder's config.yaml (model.hidden: 8 -> 16)"),
    ("missing", "no checkpoint at"),
    ("no-config", "not a gridlstm run folder (no config.yaml)"),
])
def test_damaged_or_foreign_run_folder_is_a_one_line_error(tmp_path, reference, damage, message):
    run_dir = interrupted_run(config(), tmp_path / "a", 5)
    ckpt = run_dir / "checkpoint.pt"
    if damage == "truncate":
        ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    elif damage == "foreign-pickle":  # arbitrary pickled objects must never be unpickled
        torch.save({"model": {}, "format": 1, "payload": random.Random(0)}, ckpt)
    elif damage == "not-gridlstm":
        torch.save({"weights": torch.zeros(3)}, ckpt)
    elif damage == "other-run":
        other = interrupted_run(config(model__hidden=16), tmp_path / "b", 3)
        shutil.copy(other / "checkpoint.pt", ckpt)
    elif damage == "missing":  # in a run that had ended: nothing to start over from
        meta = json.loads((run_dir / "meta.json").read_text())
        (run_dir / "meta.json").write_text(json.dumps({**meta, "status": "completed"}))
        ckpt.unlink()
    elif damage == "no-config":
        (run_dir / "config.yaml").unlink()
    r = CliRunner().invoke(cli, ["train", "--resume", str(run_dir)])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], r.stderr
    assert "Traceback" not in r.output


def test_forcing_a_different_architecture_is_a_one_line_error(tmp_path):
    run_dir = interrupted_run(config(), tmp_path, 5)
    r = CliRunner().invoke(cli, ["train", "--resume", str(run_dir), "--force", "model.hidden=9"])
    assert r.exit_code == 2
    line, = r.stderr.strip().splitlines()
    assert line.startswith("Error: the checkpoint holds a different model than the config describes")


def test_missing_folder_and_folder_in_use(tmp_path):
    with pytest.raises(GridlstmError, match="no such run folder"):
        resume(tmp_path / "nope")
    run_dir = interrupted_run(config(), tmp_path, 5)
    with FolderLock(run_dir):
        with pytest.raises(GridlstmError, match="in use by another gridlstm process"):
            resume(run_dir, device="cpu")
    assert resume(run_dir, device="cpu").status == "completed"


def test_checkpoint_is_plain_tensors_and_primitives(tmp_path, reference):
    """weights_only=True loads everything, RNG states included (torch refuses arbitrary objects)."""
    payload = torch.load(reference["grid"] / "checkpoint.pt", weights_only=True)
    assert isinstance(payload["rng"]["torch"], torch.Tensor) and isinstance(payload["rng"]["data"], torch.Tensor)
    assert payload["step"] == 40 and payload["format"] == 1


# ----------------------------------------------------------------------------- divergence


class PoisonedTask:
    """The real task, except that training batch number ``at`` (1-based) carries a NaN input."""

    def __init__(self, task, at: int):
        self._task, self.at, self.calls = task, at, 0

    def __getattr__(self, name):
        return getattr(self._task, name)

    def sample(self, batch, gen):
        x, y = self._task.sample(batch, gen)
        self.calls += 1
        if self.calls == self.at:
            x = x.clone()
            x[0, 0, 0] = math.nan
        return x, y


def poisoned_run(tmp_path, at: int, **over) -> tuple[Path, dict, list]:
    """A run whose training batch number ``at`` carries a NaN; the weights after every step."""
    snapshots = []

    def poison_and_snapshot(t: Trainer) -> None:
        if not isinstance(t.task, PoisonedTask):  # step 0, before the first batch
            t.task = PoisonedTask(t.task, at)
        snapshots.append(torch.cat([p.detach().flatten().clone() for p in t.model.parameters()]))

    summary = train(config(**over), tmp_path, "cpu", argv=["test"], hooks=(poison_and_snapshot,))
    return Path(summary.run_dir), summary, snapshots


def test_nan_loss_stops_as_diverged_keeping_the_last_good_checkpoint(tmp_path):
    run_dir, summary, _ = poisoned_run(tmp_path, at=17)
    assert summary.status == "diverged" and summary.steps == 16
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "diverged" and meta["error"] == "loss is nan at step 17"
    assert meta["diverged_step"] == 17
    ckpt = load_checkpoint(run_dir / "checkpoint.pt")
    assert ckpt["step"] == 14  # checkpoint_every 7: the last one before the bad step
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())


def test_on_nan_skip_skips_only_that_update_and_counts_it(tmp_path):
    run_dir, summary, snaps = poisoned_run(tmp_path, at=17, train__on_nan="skip")
    assert summary.status == "completed" and summary.skipped_steps == 1 and summary.steps == 40
    # snaps[k] = weights after step k: step 17 changed nothing, its neighbours did
    assert torch.equal(snaps[17], snaps[16])
    assert not torch.equal(snaps[16], snaps[15]) and not torch.equal(snaps[18], snaps[17])
    row = next(r for r in read_metrics(run_dir / "metrics.csv") if r["step"] == "17")
    assert math.isnan(float(row["loss"]))


def test_non_finite_gradient_names_the_parameter(tmp_path):
    trainer = Trainer(config(), CPU)
    name, p = next(iter(trainer.model.named_parameters()))
    for q in trainer.model.parameters():
        q.grad = torch.zeros_like(q)
    p.grad[0] = math.inf
    msg = trainer._non_finite(0.5, math.inf)
    assert msg == f"gradient norm is inf at step 1 (first non-finite gradient: {name})"


@pytest.mark.parametrize("on_nan,message", [
    ("stop", r"diverged: loss is (nan|inf) at step \d+; the last good checkpoint \(step \d+\) is kept"),
    ("skip", r"diverged: loss is (nan|inf) at step \d+ \(3 non-finite steps in a row\);"),
])
def test_absurd_lr_from_the_config_ends_as_diverged(tmp_path, on_nan, message):
    r = CliRunner().invoke(cli, ["train", "--out", str(tmp_path), "name=r", "task.length=10",
                                 "model.hidden=8", "model.layers=1", "train.steps=50", "train.batch_size=8",
                                 "train.eval_batches=1", "train.lr=1000", "train.optimizer=sgd",
                                 "train.clip_norm=0", f"train.on_nan={on_nan}", "train.skip_limit=3"])
    assert r.exit_code == 1, r.output
    assert re.search(message, r.stderr), r.stderr
    run_dir = Path(r.stdout.strip().splitlines()[-1])
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "diverged" and meta["diverged_step"] >= 1
    # the progress line and the message agree: after the last good step, at the one that failed
    failed = int(re.search(r"loss is \w+ at step (\d+)", r.stderr).group(1))
    assert failed == meta["diverged_step"]
    assert f"diverged after step {failed - 1}\n" in r.output, r.output
    ckpt = load_checkpoint(run_dir / "checkpoint.pt")
    assert ckpt["step"] < meta["diverged_step"]
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())


def test_a_diverged_run_resumes_from_its_last_good_checkpoint_with_a_forced_smaller_lr(tmp_path):
    absurd = ["name=r", "task.length=10", "model.hidden=8", "model.layers=1", "train.steps=30",
              "train.batch_size=8", "train.eval_batches=1", "train.eval_every=10", "train.log_every=1",
              "train.lr=1000", "train.optimizer=sgd", "train.clip_norm=0"]
    r = CliRunner().invoke(cli, ["train", "--out", str(tmp_path), *absurd])
    assert r.exit_code == 1, r.output
    run_dir = Path(r.stdout.strip().splitlines()[-1])
    r = CliRunner().invoke(cli, ["train", "--resume", str(run_dir), "--force", "train.lr=0.001"])
    assert r.exit_code == 0, r.output
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "completed" and "error" not in meta
    assert meta["resumes"][0]["previous_status"] == "diverged" and meta["resumes"][0]["from_step"] == 0
    train_rows = [x for x in read_metrics(run_dir / "metrics.csv") if x["split"] == "train"]
    assert [int(x["step"]) for x in train_rows] == list(range(1, 31))  # the diverged rows are gone
    assert all(float(x["lr"]) == 0.001 and math.isfinite(float(x["loss"])) for x in train_rows)


def test_layerwise_interrupt_then_resume_equals_uninterrupted_and_meta_records_it(tmp_path):
    """model.schedule layerwise (auto resolves to it too): fused kernels, still bit-exact on the CPU."""
    for variant in ("memory_input", "paper"):
        cfg = config(model__schedule="layerwise", model__variant=variant)
        ref = Path(train(cfg, tmp_path / f"ref-{variant}", "cpu", argv=["test"]).run_dir)
        run_dir = interrupted_run(cfg, tmp_path / variant, 17)
        assert resume(run_dir, device="cpu", argv=["test"]).status == "completed"
        assert_same_run(run_dir, ref)
        for d in (ref, run_dir):
            meta = json.loads((d / "meta.json").read_text())
            assert meta["schedule"] == {"train": "layerwise", "probe": "layerwise"}  # grids probe a layer
