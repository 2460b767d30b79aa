"""Command-line sweeps: a comma list makes an axis, a quoted value stays one literal."""
from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from gridlstm.cli.main import cli
from gridlstm.config import load_config
from gridlstm.errors import ConfigError
from gridlstm.sweep.cmdline import is_axis, split_axes
from gridlstm.sweep.folder import open_sweep_dir, open_target

TINY = ["task.length=5", "model.hidden=4", "train.steps=2", "train.eval_every=1"]


def run_sweep(tmp_path, *args: str):
    """A tiny command-line sweep of configs/default.yaml under tmp_path; its folder."""
    result = CliRunner().invoke(cli, ["sweep", "configs/default.yaml", *args, *TINY, "--out", str(tmp_path),
                                      "--jobs", "1", "--no-gradients"])
    assert result.exit_code == 0, result.output
    return next(tmp_path.glob("sweeps/*/*"))


def test_comma_makes_an_axis_and_quotes_a_literal():
    assert is_axis("seed=0,1,2") and is_axis("model=rnn,lstm")
    assert not is_axis("name='a,b'") and not is_axis('name="a,b"')
    assert not is_axis("gradients.at_steps=[0,100]") and not is_axis("model.hidden=8")
    axes, rest = split_axes(["model.kind=rnn,lstm", "seed=0,1,2", "name='a,b'", "train.lr=1e-3"])
    assert axes == {"model.kind": ["rnn", "lstm"], "seed": [0, 1, 2]}
    assert rest == ["name='a,b'", "train.lr=1e-3"]


def test_a_name_override_names_the_sweep_its_folder_and_its_runs(tmp_path):
    sweep_dir = run_sweep(tmp_path, "seed=0,1", "name=lr_probe")
    assert sweep_dir.parent.name == "lr_probe", sweep_dir
    assert {r.config.run_name for r in open_sweep_dir(sweep_dir).runs} == {"lr_probe"}
    bad = CliRunner().invoke(cli, ["sweep", "configs/default.yaml", "seed=0,1", "name=a/b", "--dry-run"])
    assert bad.exit_code == 2 and "name: must be letters, digits" in bad.output, bad.output


def test_a_config_with_comma_lists_expands_to_their_product(tmp_path):
    sweep, _, _ = open_target("configs/default.yaml", ["model.kind=rnn,lstm,grid", "seed=0,1,2"], tmp_path,
                              create=False)
    assert sweep.name == "default" and len(sweep.runs) == 9
    assert [(r.values["model.kind"], r.values["seed"]) for r in sweep.runs][:2] == [("rnn", 0), ("rnn", 1)]


def test_groups_and_overrides_apply_to_the_base(tmp_path):
    sweep, _, _ = open_target("configs/default.yaml", ["task=copy", "model=lstm", "model.hidden=4,8"], tmp_path,
                              create=False)
    assert {(r.config.task.name, r.config.model.kind) for r in sweep.runs} == {("copy", "lstm")}
    assert [r.config.model.hidden for r in sweep.runs] == [4, 8]


def test_a_comma_list_replaces_a_sweep_files_axis_and_a_single_value_is_still_refused(tmp_path):
    sweep, _, _ = open_target("configs/sweeps/seed_variance.yaml", ["seed=0,1"], tmp_path, create=False)
    assert len(sweep.runs) == 4 and {r.values["seed"] for r in sweep.runs} == {0, 1}
    with pytest.raises(ConfigError, match="comma list"):
        open_target("configs/sweeps/seed_variance.yaml", ["seed=3"], tmp_path, create=False)


def test_dry_run_shows_the_expansion():
    result = CliRunner().invoke(cli, ["sweep", "configs/default.yaml", "model.kind=rnn,lstm", "seed=0,1", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "sweep default: 4 runs" in result.output and "kind=lstm,seed=1" in result.output


def test_the_folder_records_the_expansion_and_resumes(tmp_path):
    sweep_dir = run_sweep(tmp_path, "seed=0,1")
    assert sweep_dir.parent.name == "default"  # named after the config's name
    spec = yaml.safe_load((sweep_dir / "sweep.yaml").read_text())
    assert spec["axes"] == {"seed": [0, 1]} and spec["config"]["model"]["hidden"] == 4
    assert [r.id for r in open_sweep_dir(sweep_dir).runs] == ["seed=0", "seed=1"]
    again = CliRunner().invoke(cli, ["sweep", str(sweep_dir), "--no-gradients"])
    assert again.exit_code == 0, again.output


def test_a_group_axis_gives_the_runs_train_gives(tmp_path):
    # model=rnn,lstm,grid: each value picks configs/model/<value>.yaml, as `gridlstm train model=X`
    sweep, _, _ = open_target("configs/default.yaml", ["model=rnn,lstm,grid", "seed=0,1", "model.hidden=8"],
                              tmp_path, create=False)
    assert [r.id for r in sweep.runs][:2] == ["model=rnn,seed=0", "model=rnn,seed=1"]
    for run in sweep.runs:
        model, seed = run.values["model"], run.values["seed"]
        expected = load_config("configs/default.yaml", [f"model={model}", f"seed={seed}", "model.hidden=8"])
        # the same run, but named after the sweep (train names a composed run <task>-<kind>)
        assert run.config.name == sweep.name == "default" and expected.run_name == f"adding-{model}"
        assert run.config.model_dump(exclude={"name"}) == expected.model_dump(exclude={"name"}), run.id
    assert {r.config.model.layers for r in sweep.runs if r.values["model"] == "rnn"} == {1}  # whole section


def test_an_unknown_group_option_exits_2_naming_the_valid_ones():
    result = CliRunner().invoke(cli, ["sweep", "configs/default.yaml", "model=rnn,foo", "--dry-run"])
    assert result.exit_code == 2
    problems = [line for line in result.output.splitlines() if line.startswith("  - ")]
    assert len(problems) == 1 and "unknown model 'foo': choose one of grid, gru, lstm, rnn" in problems[0]


def test_a_quoted_comma_is_one_literal_value(tmp_path):
    # the shell keeps the inner quotes of "tracking.experiment='a,b'" (README: Using it)
    sweep, _, _ = open_target("configs/default.yaml", ["tracking.experiment='a,b'", "seed=0,1"], tmp_path,
                              create=False)
    assert sweep.keys == ("seed",) and {r.config.tracking.experiment for r in sweep.runs} == {"a,b"}


def test_a_group_axis_sweep_folder_resumes_with_its_overrides(tmp_path):
    sweep_dir = run_sweep(tmp_path, "model=rnn,lstm")
    resumed = open_sweep_dir(sweep_dir)
    assert [(r.config.model.kind, r.config.model.hidden) for r in resumed.runs] == [("rnn", 4), ("lstm", 4)]
    again = CliRunner().invoke(cli, ["sweep", str(sweep_dir), "--no-gradients"])
    assert again.exit_code == 0, again.output
