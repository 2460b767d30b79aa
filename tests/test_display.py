"""The training display: rate and ETA on the bar, the final eval on its last line, how the run ended."""
from __future__ import annotations

import io
import signal

from rich.console import Console

from gridlstm.cli.display import RichReporter
from gridlstm.config import build_config
from gridlstm.train.lifecycle import start_run
from gridlstm.train.signals import StopSignals


def config(**train):
    return build_config({"name": "shown", "seed": 2, "task": {"name": "adding", "length": 5},
                         "model": {"kind": "rnn", "hidden": 4, "layers": 1},
                         "train": {"steps": 10, "batch_size": 4, "eval_every": 3, "eval_batches": 1,
                                   "log_every": 1, **train}})


def shown(tmp_path, cfg, **kw) -> tuple[str, dict]:
    buf = io.StringIO()
    reporter = RichReporter(Console(file=buf, width=200, force_terminal=False), refresh_every=4)
    summary = start_run(cfg, tmp_path, "cpu", reporter=reporter, argv=["test"], **kw)
    return buf.getvalue(), summary


def test_bar_shows_rate_and_eta_and_the_final_eval(tmp_path):
    out, summary = shown(tmp_path, config(early_stop=False))
    assert "step/s" in out and "eta" in out
    bar = [line for line in out.splitlines() if "eval@" in line][-1]
    assert "eval@10" in bar  # the final eval, not the one before it
    assert out.rstrip().splitlines()[-1] == "completed at step 10"


def test_early_stop_names_the_step(tmp_path):
    out, summary = shown(tmp_path, config(target=1e9))  # mse <= 1e9: solved by the first eval
    assert summary.status == "completed" and summary.solved
    assert out.rstrip().splitlines()[-1] == f"stopped early: solved at step {summary.steps}"


def test_interrupt_names_the_step(tmp_path):
    stop = StopSignals()

    def press(trainer) -> None:
        if trainer.step == 4:
            stop.signum = signal.SIGINT

    out, summary = shown(tmp_path, config(early_stop=False), hooks=(press,), stop=stop)
    assert out.rstrip().splitlines()[-1] == "interrupted at step 4"
