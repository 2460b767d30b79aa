"""train --dry-run shows the resolved config and its memory estimate and writes nothing; a key
named as other tools name it (learning_rate, epochs, hidden_size, ...) is answered with ours."""
from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from gridlstm import limits
from gridlstm.cli.main import cli
from gridlstm.config import load_config


def test_dry_run_prints_the_resolved_config_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["train", "task=copy", "model=lstm", "model.hidden=16", "--dry-run",
                                      "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.stdout)
    cfg = load_config(None, ["task=copy", "model=lstm", "model.hidden=16"])
    assert shown == cfg.to_dict()
    est = limits.estimate(cfg)
    assert f"{est.params:,} parameters" in result.stderr and "run name: copy-lstm" in result.stderr
    assert list(tmp_path.iterdir()) == []  # no run folder, no --out folder


def test_dry_run_refuses_with_resume(tmp_path):
    result = CliRunner().invoke(cli, ["train", "--resume", str(tmp_path), "--dry-run"])
    assert result.exit_code == 2 and "--dry-run applies to a new run" in result.stderr


@pytest.mark.parametrize("given, ours", [("train.learning_rate", "train.lr"), ("lr", "train.lr"),
                                         ("epochs", "train.steps"), ("model.hidden_size", "model.hidden"),
                                         ("num_layers", "model.layers"), ("train.eval_batch", "train.eval_batches")])
def test_did_you_mean_knows_the_common_names(given, ours):
    result = CliRunner().invoke(cli, ["train", f"{given}=3", "--dry-run"])
    assert result.exit_code == 2
    assert f"unknown key {given} in override '{given}=3' (did you mean {ours}?)" in result.stderr
