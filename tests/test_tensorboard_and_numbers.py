"""One run, logged to TensorBoard and MLflow, then measured by gradcheck: the real packages read back
the scalars, profile images and tables, hparams with the outcome, and gradcheck's numbers (slope per
state and layer, depth decades) as metrics in both. No mocks: tensorboard's own event reader, a real
SQLite MLflow store under tmp."""
from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gridlstm import run_numbers
from gridlstm.cli.main import cli

HAS_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None
HAS_MLFLOW = importlib.util.find_spec("mlflow") is not None
ARGS = ["adding_lstm", "task.length=6", "model.hidden=4", "model.layers=2", "train.steps=12", "train.batch_size=8",
        "train.eval_every=6", "train.eval_batches=1", "train.log_every=3", "gradients.at_steps=[0,6]"]


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_numbers_of_a_folder_are_its_files(tmp_path):
    """run_numbers against the files it reads, computed here by hand."""
    run = train(tmp_path, [])
    assert CliRunner().invoke(cli, ["gradcheck", str(run)]).exit_code == 0
    got = run_numbers.numbers(run)
    summary = json.loads((run / "summary.json").read_text())
    assert got["outcome/solved"] == float(summary["solved"]) and got["outcome/steps"] == 12
    for r in rows(run / "gradients" / "summary.csv"):
        if r["slope_decades_per_step"]:
            assert got[f"grad/{r['state']}/L{r['layer']}/slope"] == float(r["slope_decades_per_step"])
    for r in rows(run / "gradients" / "depth.csv"):
        assert got[f"depth/{r['state']}/decades"] == float(r["decades"])


def test_steps_to_solve_is_the_first_eval_at_the_target(tmp_path):
    (tmp_path / "metrics.csv").write_text("step,split,loss,metric\n0,eval,1,0.5\n3,train,1,0.001\n"
                                          "5,eval,1,0.02\n10,eval,1,0.009\n15,eval,1,0.001\n")
    assert run_numbers.steps_to_solve(tmp_path, "mse", 0.01) == 10
    assert run_numbers.steps_to_solve(tmp_path, "accuracy", 0.5) == 0


def train(tmp_path: Path, extra: list[str]) -> Path:
    result = CliRunner().invoke(cli, ["train", *ARGS, *extra, "--out", str(tmp_path / "out"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(not (HAS_TENSORBOARD and HAS_MLFLOW),
                    reason="needs the optional extras: pip install '.[tensorboard,mlflow]'")
def test_one_run_in_tensorboard_and_mlflow_with_gradcheck_numbers_in_both(tmp_path):
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    uri, board = f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "tb"
    MlflowClient(uri).create_experiment("tb", artifact_location=str(tmp_path / "artifacts"))
    run = train(tmp_path, [f"tracking.uri={uri}", "tracking.experiment=tb", f"tracking.tensorboard={board}"])
    gc = CliRunner().invoke(cli, ["gradcheck", str(run), "--device", "cpu"])
    assert gc.exit_code == 0, gc.output
    numbers = run_numbers.numbers(run)
    slopes = {k: v for k, v in numbers.items() if k.startswith("grad/") and k.endswith("/slope")}
    assert "grad/h/L2/slope" in slopes and "grad/c/L1/slope" in slopes and "depth/h/decades" in numbers

    logs = board / run.parent.name / run.name
    events = EventAccumulator(str(logs), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    train_rows = [r for r in rows(run / "metrics.csv") if r["split"] == "train"]
    got = [(e.step, e.value) for e in events.Scalars("train/loss")]
    assert got == [(int(r["step"]), pytest.approx(float(r["loss"]))) for r in train_rows]
    assert [e.step for e in events.Scalars("eval/metric")] == [0, 6, 12]
    assert {"grad_norm", "lr", "outcome/solved"} <= set(events.Tags()["scalars"])
    for key, value in slopes.items():  # gradcheck's numbers, written after training
        assert events.Scalars(key)[-1].value == pytest.approx(value), key
    [image] = events.Images("gradients/profiles")[-1:]
    assert image.width > 100 and image.height > 100
    assert events.Images("gradients/gradcheck")
    table = events.Tensors("gradients/profiles/text_summary")[-1].tensor_proto.string_val[0].decode()
    assert "| 6 | h | 2 |" in table and "| 0 | c | 1 |" in table  # a row per recorded step, state, layer
    hp = plugin_data_pb2.HParamsPluginData.FromString(
        events.PluginTagToContent("hparams")["_hparams_/session_start_info"])
    assert hp.session_start_info.hparams["model.hidden"].number_value == 4
    assert hp.session_start_info.hparams["model.kind"].string_value == "lstm"

    client = MlflowClient(uri)
    [found] = client.search_runs([client.get_experiment_by_name("tb").experiment_id])
    for key, value in slopes.items():
        assert found.data.metrics[key] == pytest.approx(value), key
    assert found.data.metrics["outcome/steps"] == 12
    assert found.data.tags["gridlstm.solved"] in ("true", "false")
    assert "keeps its gradient best" in found.data.tags["gridlstm.gradients"]
    # runs sortable by a gradient number in the UI's terms: ORDER BY metrics.`grad/h/L2/slope`
    assert client.search_runs([found.info.experiment_id], order_by=["metrics.`grad/h/L2/slope` DESC"])


@pytest.mark.skipif(HAS_TENSORBOARD, reason="checks the refusal without the tensorboard package")
def test_without_tensorboard_a_config_asking_for_it_is_refused_before_any_folder(tmp_path):
    result = CliRunner().invoke(cli, ["train", *ARGS, f"tracking.tensorboard={tmp_path / 'tb'}",
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "pip install '.[tensorboard]'" in result.stderr
    sweep = CliRunner().invoke(cli, ["sweep", "adding_lstm", "seed=0,1", f"tracking.tensorboard={tmp_path / 'tb'}",
                                     "--out", str(tmp_path / "out")])
    assert sweep.exit_code == 2 and "pip install '.[tensorboard]'" in sweep.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "tb").exists()


@pytest.mark.slow
@pytest.mark.skipif(not HAS_TENSORBOARD, reason="needs the optional extra: pip install '.[tensorboard]'")
def test_a_sweep_logs_one_tensorboard_run_per_child_grouped_by_sweep(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    small = [a for a in ARGS[1:] if not a.startswith("gradients.")]
    result = CliRunner().invoke(cli, ["sweep", "adding_lstm", "seed=0,1", *small, f"tracking.tensorboard={tmp_path / 'tb'}",
                                      "--out", str(tmp_path / "out"), "--jobs", "1", "--no-gradients"])
    assert result.exit_code == 0, result.output
    sweep_dir = Path(result.stdout.strip().splitlines()[-1])
    runs = sorted(p.name for p in (sweep_dir / "runs").iterdir())
    group = tmp_path / "tb" / sweep_dir.parent.name / sweep_dir.name
    assert sorted(p.name for p in group.iterdir()) == runs == ["seed=0", "seed=1"]
    for run in runs:
        events = EventAccumulator(str(group / run))
        events.Reload()
        assert [e.step for e in events.Scalars("eval/loss")] == [0, 6, 12]
