"""best.pt beside checkpoint.pt, ``--from best``, and the wall time of interrupted and resumed runs."""
from __future__ import annotations

import signal
import time
from pathlib import Path

import torch
from click.testing import CliRunner

from gridlstm.config import build_config
from gridlstm.probe.gradcheck import load_source
from gridlstm.runs.folder import load_checkpoint, read_metrics
from gridlstm.train.lifecycle import resume_run, start_run
from gridlstm.train.signals import StopSignals
from gridlstm.train.trainer import Trainer, evaluate


def config(**train):
    return build_config({"name": "best", "seed": 3, "task": {"name": "adding", "length": 6},
                         "model": {"kind": "rnn", "hidden": 4, "layers": 1},
                         "train": {"steps": 12, "batch_size": 4, "eval_every": 2, "eval_batches": 1,
                                   "log_every": 1, "early_stop": False, "lr": 0.05, **train}})


def test_best_pt_holds_the_weights_of_the_best_eval_step(tmp_path):
    run = Path(start_run(config(), tmp_path, "cpu", argv=["test"]).run_dir)
    evals = [r for r in read_metrics(run / "metrics.csv") if r["split"] == "eval"]
    best_row = min(evals, key=lambda r: float(r["metric"]))  # adding: mse, lower is better
    best = load_checkpoint(run / "best.pt")
    assert best["step"] == int(best_row["step"]) and best["best"][0] == best["step"]
    trainer = Trainer(config(), torch.device("cpu"))
    trainer.model.load_state_dict(best["model"])
    _, metric = evaluate(trainer.model, trainer.task, trainer.eval_batches, trainer.device)
    assert abs(metric - float(best_row["metric"])) < 1e-6
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 12  # the last stays what resume reads
    source = load_source(run, [], "best")
    assert source.step == best["step"]
    assert all(torch.equal(source.weights[k], best["model"][k]) for k in best["model"])


def test_gradcheck_from_best_reads_best_pt(tmp_path):
    from gridlstm.cli.main import cli

    run = Path(start_run(config(), tmp_path, "cpu", argv=["test"]).run_dir)
    best_step = load_checkpoint(run / "best.pt")["step"]
    result = CliRunner().invoke(cli, ["gradcheck", str(run), "--from", "best", "--device", "cpu",
                                      "--out", str(tmp_path / "g")])
    assert result.exit_code == 0, result.output
    assert f'"step": {best_step}' in (tmp_path / "g" / "meta.json").read_text()


def test_interrupted_and_resumed_runs_report_their_true_wall_time(tmp_path):
    """Wall time is the clock of every session, step 0's eval and hooks included (a run stopped
    during a long step-0 measurement once reported 0.0 s), summed over resumes."""
    stop = StopSignals()

    def slow_start(trainer: Trainer) -> None:
        if trainer.step == 0:
            time.sleep(0.4)
            stop.signum = signal.SIGINT

    summary = start_run(config(), tmp_path, "cpu", argv=["test"], hooks=(slow_start,), stop=stop)
    assert summary.status == "interrupted" and summary.steps == 0
    assert summary.wall_seconds >= 0.4

    def slow_step(trainer: Trainer) -> None:
        if trainer.step == 1:
            time.sleep(0.3)

    resumed = resume_run(Path(summary.run_dir), device="cpu", argv=["test"], hooks=(slow_step,))
    assert resumed.status == "completed"
    assert resumed.wall_seconds >= 0.7


def test_the_best_and_the_last_checkpoint_are_measured_into_their_own_folders(tmp_path):
    """gradcheck RUN writes gradients/, --from best gradients-best/: neither overwrites the other,
    and each meta.json names the file and step it measured."""
    import json

    from gridlstm.cli.main import cli

    run = Path(start_run(config(), tmp_path, "cpu", argv=["test"]).run_dir)
    steps = {}
    for which, folder in (("last", "gradients"), ("best", "gradients-best")):
        result = CliRunner().invoke(cli, ["gradcheck", str(run), "--from", which, "--device", "cpu"])
        assert result.exit_code == 0, result.output
        assert result.stdout.strip().splitlines()[-1] == str(run / folder)
        steps[folder] = (run / folder / "gradients.csv").read_text()
    last, best = (json.loads((run / f / "meta.json").read_text()) for f in ("gradients", "gradients-best"))
    assert (last["checkpoint"], last["step"]) == ("checkpoint.pt", 12)
    assert (best["checkpoint"], best["step"]) == ("best.pt", load_checkpoint(run / "best.pt")["step"])
    assert steps["gradients"] == (run / "gradients" / "gradients.csv").read_text()  # untouched by --from best
