"""The training display: rate and ETA on the bar, the final eval on its last line, how the run ended."""
from __future__ import annotations

import io
import re
import signal

import pytest
from rich.console import Console

from gridlstm.cli.display import RichReporter, TrainingLine
from gridlstm.config import build_config
from gridlstm.train.lifecycle import resume_run, start_run
from gridlstm.train.signals import StopSignals


def config(**train):
    return build_config({"name": "shown", "seed": 2, "task": {"name": "adding", "length": 5},
                         "model": {"kind": "rnn", "hidden": 4, "layers": 1},
                         "train": {"steps": 10, "batch_size": 4, "eval_every": 3, "eval_batches": 1,
                                   "log_every": 1, **train}})


def shown(tmp_path, cfg, width=200, terminal=False, **kw) -> tuple[str, dict]:
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=terminal, color_system=None)
    summary = start_run(cfg, tmp_path, "cpu", reporter=RichReporter(console), argv=["test"], **kw)
    return buf.getvalue(), summary


def test_a_log_gets_one_plain_line_per_eval(tmp_path):
    out, summary = shown(tmp_path, config(early_stop=False))
    lines = [line for line in out.splitlines() if "eval@" in line]
    assert [line.split("eval@")[1].split()[0] for line in lines] == ["0", "3", "6", "9", "10"]
    assert "10/10" in lines[-1] and "step/s" in lines[-1] and "eta" in lines[-1]
    assert not any(ord(ch) < 32 and ch != "\n" for ch in out)  # no control characters in a log
    assert out.rstrip().splitlines()[-1] == "completed at step 10"


NUMBER = re.compile(r"\d")


@pytest.mark.parametrize("width", [60, 80, 100, 200])
def test_the_line_keeps_step_total_rate_eta_and_loss_at_any_width(width):
    line = TrainingLine(total=20000, metric_name="mse", chance=0.1667)
    line.step, line.loss, line.metric, line.eval = 12345, 0.002375, 0.0031, (12300, 0.0024, 0.0032)
    line.t0 -= 100.0  # 12345 steps in 100 s
    buf = io.StringIO()
    Console(file=buf, width=width, force_terminal=True, color_system=None).print(line)
    text = buf.getvalue().rstrip("\n")
    assert "\n" not in text and len(text) <= width
    assert "12345/20000" in text and "123 step/s" in text and "loss 0.002375" in text
    assert "eta 0:01:02" in text  # (20000 - 12345) / 123.45 s
    for word in text.split():  # no field cut mid-number: every number is one that was given
        if NUMBER.search(word):
            assert word in line.plain().split() or set(word) <= set("━─"), word
    if width >= 100:
        assert "━" in text
    if width >= 200:
        assert "eval@12300" in text


def test_a_terminal_run_ends_on_its_true_last_step(tmp_path):
    out, summary = shown(tmp_path, config(target=1e9), width=80, terminal=True)
    assert summary.steps < 10
    last_bar = [line for line in out.replace("\r", "\n").splitlines() if "/10" in line][-1]
    assert f"{summary.steps}/10" in last_bar and "eta 0:00:00" in last_bar
    assert out.count("stopped early") == 1 and out.count("run folder:") == 1


def test_a_resumed_run_says_where_it_resumed(tmp_path):
    stop = StopSignals()

    def press(trainer) -> None:
        if trainer.step == 4:
            stop.signum = signal.SIGINT

    _, first = shown(tmp_path, config(early_stop=False), hooks=(press,), stop=stop)
    buf = io.StringIO()
    resume_run(first.run_dir, device="cpu", reporter=RichReporter(Console(file=buf, width=120)), argv=["t"])
    out = buf.getvalue()
    assert f"resumed from step {first.checkpoint_step} of 10" in out
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


def test_an_interrupted_terminal_run_ends_on_its_step_without_an_eta(tmp_path):
    stop = StopSignals()

    def press(trainer) -> None:
        if trainer.step == 4:
            stop.signum = signal.SIGINT

    out, summary = shown(tmp_path, config(early_stop=False), width=100, terminal=True, hooks=(press,), stop=stop)
    last_bar = [line for line in out.replace("\r", "\n").splitlines() if "/10" in line][-1]
    assert "4/10" in last_bar and "eta -:--:--" in last_bar
    assert out.count("interrupted at step 4") == 1
