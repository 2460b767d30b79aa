"""A run written by an older gridlstm, before some config key existed, resumes as it is: the missing
key reads as the schema's default on both sides of the comparison (config.yaml against checkpoint)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from gridlstm.config import Config, config_diff, flatten, load_config

TRAIN_ARGS = ["task.length=6", "model.kind=lstm", "model.hidden=4", "model.layers=1", "train.steps=12",
              "train.batch_size=8", "train.eval_every=6", "train.eval_batches=1", "train.log_every=3"]


def without(data: dict, dotted: str) -> dict:
    if "." not in dotted:
        return {k: v for k, v in data.items() if k != dotted}
    section, key = dotted.split(".", 1)
    return {**data, section: {k: v for k, v in data[section].items() if k != key}}


@pytest.mark.parametrize("key", sorted(flatten(Config().to_dict())))
def test_a_key_missing_on_either_side_reads_as_its_default(key):
    full = Config().to_dict()
    assert config_diff(full, without(full, key)) == [] and config_diff(without(full, key), full) == []


def test_a_missing_key_is_still_a_change_when_the_other_side_set_it():
    full = Config().to_dict()
    threads = {**full, "train": {**full["train"], "threads": 1}}
    assert config_diff(without(full, "train.threads"), threads) == ["train.threads: auto -> 1"]


def test_an_invalid_side_is_compared_as_written():
    assert config_diff({"model": {"kind": "nope"}}, {"model": {"kind": "lstm"}}) == ["model.kind: nope -> lstm"]


def drop_new_keys(run_dir: Path) -> None:
    """The checkpoint as a gridlstm from before train.threads, model.init and rmsprop_alpha wrote it."""
    payload = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    for key in ("train.threads", "model.init", "train.rmsprop_alpha"):
        payload["config"] = without(payload["config"], key)
    torch.save(payload, run_dir / "checkpoint.pt")


def drop_tracking(run_dir: Path) -> None:
    """config.yaml and checkpoint as a gridlstm from before the tracking section wrote them."""
    data = yaml.safe_load((run_dir / "config.yaml").read_text())
    del data["tracking"]
    (run_dir / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    payload = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    del payload["config"]["tracking"]
    torch.save(payload, run_dir / "checkpoint.pt")


@pytest.mark.parametrize("age", [drop_new_keys, drop_tracking])
def test_an_interrupted_run_of_an_older_gridlstm_resumes_without_force(tmp_path, age):
    from gridlstm.errors import RunInterrupted
    from gridlstm.train.lifecycle import resume_run, start_run

    def stop_at_7(trainer):
        if trainer.step == 7:
            raise KeyboardInterrupt

    with pytest.raises(RunInterrupted) as e:
        start_run(load_config(None, TRAIN_ARGS), tmp_path, device="cpu", hooks=(stop_at_7,))
    run_dir = Path(e.value.run_dir)
    age(run_dir)
    summary = resume_run(run_dir, device="cpu")
    assert summary.status == "completed" and summary.steps == 12
