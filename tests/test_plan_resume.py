"""gridlstm/train/resume.py:plan_resume on its own: what it allows, what it refuses, and what it returns."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gridlstm.config import load_config
from gridlstm.errors import GridlstmError
from gridlstm.runs.records import Status, Summary
from gridlstm.train.lifecycle import start_run
from gridlstm.train.resume import ResumePlan, plan_resume

TINY = ["task.length=6", "model.hidden=4", "model.layers=1", "model.kind=lstm", "train.steps=4",
        "train.eval_every=2", "train.batch_size=4", "train.eval_batches=1", "train.early_stop=false"]


@pytest.fixture(scope="module")
def completed(tmp_path_factory) -> Path:
    summary = start_run(load_config(None, TINY), tmp_path_factory.mktemp("runs"), "cpu", argv=["test"])
    assert summary.status == Status.COMPLETED
    return Path(summary.run_dir)


@pytest.fixture
def copy(completed, tmp_path) -> Path:
    run = tmp_path / "g" / completed.name
    shutil.copytree(completed, run)
    return run


def _set_status(run: Path, status: str) -> None:
    meta = json.loads((run / "meta.json").read_text())
    (run / "meta.json").write_text(json.dumps({**meta, "status": status}))


def test_a_completed_run_with_nothing_changed_is_nothing_to_do(completed):
    plan = plan_resume(completed)
    assert isinstance(plan, Summary) and plan.nothing_to_do and plan.steps == 4


def test_a_changed_value_is_refused_naming_it_and_accepted_with_force(completed):
    with pytest.raises(GridlstmError, match=r"config differs from the run's \(train\.lr: 0\.003 -> 0\.01\)"):
        plan_resume(completed, overrides=["train.lr=0.01"])
    plan = plan_resume(completed, overrides=["train.lr=0.01"], force=True)
    assert isinstance(plan, ResumePlan) and plan.changed == ["train.lr: 0.003 -> 0.01"]
    assert plan.cfg.train.lr == 0.01 and plan.payload["step"] == 4  # the last checkpoint, read not changed


def test_an_interrupted_run_continues_from_its_checkpoint(copy):
    _set_status(copy, "interrupted")
    plan = plan_resume(copy)
    assert isinstance(plan, ResumePlan) and plan.changed == [] and plan.payload["step"] == 4
    assert plan.cfg == load_config(copy / "config.yaml") and plan.meta.status == Status.INTERRUPTED


def test_a_run_stopped_before_its_first_checkpoint_starts_over(copy):
    _set_status(copy, "running")
    (copy / "checkpoint.pt").unlink()
    plan = plan_resume(copy)
    assert isinstance(plan, ResumePlan) and plan.payload is None


def test_a_checkpoint_of_another_config_is_refused(copy):
    text = (copy / "config.yaml").read_text().replace("hidden: 4", "hidden: 5")
    (copy / "config.yaml").write_text(text)
    with pytest.raises(GridlstmError, match=r"was written for another config than the folder's config\.yaml "
                                            r"\(model\.hidden: 5 -> 4\)"):
        plan_resume(copy)


@pytest.mark.parametrize("case, needle", [("missing", "no such run folder"),
                                          ("no_config", "not a gridlstm run folder (no config.yaml)")])
def test_what_is_not_a_run_folder(tmp_path, case, needle):
    path = tmp_path / "x"
    if case == "no_config":
        path.mkdir()
    with pytest.raises(GridlstmError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        plan_resume(path)
