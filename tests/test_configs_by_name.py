"""Shipped configs by name, from any directory: ``gridlstm train adding_rnn``, ``sweeps/NAME``,
``studies/NAME``; a path still works; a wrong name gets the names that exist."""
from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from gridlstm import compose
from gridlstm.cli.main import cli
from gridlstm.config import load_config

SMALL = ["train.steps=2", "train.eval_batches=1", "train.batch_size=2", "task.length=5", "model.hidden=4"]


def test_names_are_the_shipped_files():
    names = compose.config_names()
    assert {"adding_rnn", "default", "sweeps/adding_length", "studies/results", "studies/depth"} <= set(names)
    for name in names:
        assert (compose.CONFIG_DIR / f"{name}.yaml").is_file()


def test_train_by_name_from_another_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ here
    result = CliRunner().invoke(cli, ["train", "adding_rnn", *SMALL, "--out", "runs"])
    assert result.exit_code == 0, result.output
    run = tmp_path / result.stdout.strip().splitlines()[-1]
    saved = yaml.safe_load((run / "config.yaml").read_text())
    shipped = yaml.safe_load((compose.CONFIG_DIR / "adding_rnn.yaml").read_text())
    assert saved["model"]["kind"] == shipped["model"]["kind"] == "rnn"
    assert load_config("configs/adding_rnn.yaml") == load_config("adding_rnn")  # the repository path too


def test_a_file_of_that_name_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "adding_rnn").write_text("seed: 7\nmodel: {kind: lstm}\n")
    assert load_config("adding_rnn").model.kind == "lstm"


def test_a_wrong_name_suggests_real_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["train", "adding_rn", "--out", "runs"])
    assert result.exit_code == 2
    assert "config file not found: adding_rn" in result.stderr and "did you mean adding_rnn" in result.stderr
    assert not (tmp_path / "runs").exists()
    result = CliRunner().invoke(cli, ["sweep", "sweeps/adding_lenth", "--dry-run"])
    assert result.exit_code == 2 and "did you mean sweeps/adding_length" in result.stderr


def test_sweep_and_study_files_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["sweep", "sweeps/adding_length", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "kind=grid,length=400,seed=2" in result.output
    from gridlstm.studies.results import load_results_spec

    assert load_results_spec("studies/results").comparisons
    from gridlstm.studies.spectrum import load_spectrum_study

    by_path = load_spectrum_study(Path("configs/studies/spectrum.yaml"))  # as its --help example spells it
    assert by_path == load_spectrum_study(Path("studies/spectrum")) and len(by_path.entries) == 7


def test_configs_lists_the_names():
    out = CliRunner().invoke(cli, ["configs"]).output
    for name in compose.config_names():
        assert name in out
