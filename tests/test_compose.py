"""Config groups: GROUP=NAME picks configs/GROUP/NAME.yaml, between the base config and overrides."""
from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from gridlstm import compose
from gridlstm.cli.main import cli
from gridlstm.config import load_config
from gridlstm.errors import ConfigError


def test_groups_then_overrides():
    cfg = load_config(None, ["task=copy", "model=grid", "model.hidden=8"])
    assert (cfg.task.name, cfg.model.kind, cfg.model.hidden) == ("copy", "grid", 8)
    assert cfg.run_name == "copy-grid" and cfg.train == load_config(None).train  # no train= : the base's
    assert load_config(None, ["train=long"]).train.steps == 10000


def test_a_group_replaces_the_whole_section():
    # the default base is a grid; model=rnn must not keep the grid's variant
    cfg = load_config(None, ["model=rnn"])
    assert cfg.model.kind == "rnn" and cfg.model.layers == 1


def test_every_task_model_pair_is_valid():
    for task in compose.options("task"):
        for model in compose.options("model"):
            cfg = load_config(None, [f"task={task}", f"model={model}"])
            assert (cfg.task.name, cfg.model.kind) == (task, model)


def test_full_config_files_still_work_and_take_groups():
    cfg = load_config("configs/copy_lstm.yaml", ["model=gru"])
    assert cfg.run_name == "copy-gru" and cfg.model.kind == "gru"  # named after what was composed


def test_unknown_option_lists_the_available_ones():
    with pytest.raises(ConfigError) as e:
        load_config(None, ["model=foo"])
    assert str(e.value).splitlines()[-1].strip() == (
        f"- unknown model 'foo': choose one of grid, gru, lstm, rnn (files in {compose.CONFIG_DIR / 'model'})")


def test_cli_unknown_option_exits_2_and_configs_lists_groups():
    result = CliRunner().invoke(cli, ["train", "task=nope"])
    assert result.exit_code == 2 and "choose one of adding, addition, copy, memorize, parity, temporal_order" in result.output
    listing = CliRunner().invoke(cli, ["configs"]).output
    assert "model: grid, gru, lstm, rnn" in listing and "train: default, long" in listing


def test_cli_train_composes_and_saves_the_resolved_config(tmp_path):
    result = CliRunner().invoke(cli, ["train", "task=copy", "model=lstm", "task.length=5", "model.hidden=4",
                                      "train.steps=2", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    run = next(tmp_path.glob("*/*"))
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["task"]["name"] == "copy" and saved["model"]["kind"] == "lstm"
    assert saved["model"]["hidden"] == 4
    assert load_config(run / "config.yaml") == load_config(None, ["task=copy", "model=lstm", "task.length=5",
                                                                   "model.hidden=4", "train.steps=2"])


def test_completion_of_keys_groups_and_paths(tmp_path, monkeypatch):
    from gridlstm.cli.complete import CACHE_ENV, complete_args

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))  # the key cache goes here, not to the home folder

    def values(text):
        return [i.value for i in complete_args(None, None, text)]

    assert values("model.hid") == ["model.hidden="]
    assert values("model=l") == ["model=lstm"]
    assert "configs/default.yaml" in values("configs/def") and "configs/sweeps/" in values("configs/sw")


@pytest.mark.parametrize("task", ["addition", "memorize"])
def test_the_paper_tasks_groups_match_their_cpu_configs(task):
    # task=addition / task=memorize: the task section of configs/<task>_cpu_*.yaml
    for model in ("lstm", "grid"):
        assert load_config(None, [f"task={task}"]).task == load_config(f"configs/{task}_cpu_{model}.yaml").task


def test_cli_trains_a_paper_task_from_groups(tmp_path):
    result = CliRunner().invoke(cli, ["train", "task=addition", "model=lstm", "model.hidden=4", "train.steps=2",
                                      "train.eval_batches=1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load((next(tmp_path.glob("*/*")) / "config.yaml").read_text())
    assert (saved["task"]["name"], saved["task"]["length"], saved["model"]["kind"]) == ("addition", 4, "lstm")


def test_a_composed_run_is_named_after_what_was_composed():
    assert load_config(None, ["task=addition", "model=lstm"]).run_name == "addition-lstm"
    assert load_config("configs/adding_rnn.yaml", ["model=grid"]).run_name == "adding-grid"
    assert load_config(None, ["task=copy", "name=mine"]).run_name == "mine"  # name= (and --name) still win
    assert load_config(None, []).run_name == "default"  # no group: the file's own name
