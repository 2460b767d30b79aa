"""Fixtures shared across test modules: built once per session, read (never changed) by the tests."""
from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest
import torch

from .plot_runs import make_runs

# A suite started with Ctrl-C ignored (a background job of a non-interactive shell: POSIX has such a
# job ignore SIGINT, and Python then installs no handler) could test nothing about Ctrl-C, and a
# sweep test would wait forever on a swallowed signal: give it Python's handler, as a terminal has.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

TOY = ["task.length=5", "model.hidden=4", "model.layers=1", "train.steps=2", "train.eval_every=1",
       "train.log_every=1", "train.batch_size=4", "train.eval_batches=1", "name=toy"]


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory) -> dict[str, Path]:
    """Four tiny trained runs (rnn and grid gradchecked, lstm without gradients, a parity run) in
    one output folder ``out``, shared by the plot and report tests."""
    out = tmp_path_factory.mktemp("runs")
    return {"out": out, **make_runs(out)}


@pytest.fixture(scope="session")
def toy_run(tmp_path_factory) -> Path:
    """A trained run folder: config.yaml, meta.json, metrics.csv, checkpoint.pt, summary.json and
    gradients/ (profiles.csv from training, gradients.csv + summary.csv from gradcheck). Read-only
    by convention: copy it (``copy_run``) before changing anything."""
    from gridlstm.config import load_config
    from gridlstm.probe.gradcheck import load_source, run_gradcheck, write_outputs
    from gridlstm.train.lifecycle import start_run

    out = tmp_path_factory.mktemp("toy")
    summary = start_run(load_config(None, TOY), out, "cpu")
    run = Path(summary.run_dir)
    source = load_source(run, [])
    write_outputs(run_gradcheck(source, 1, None, "cpu"), run / "gradients")
    return run


LRS = (0.1, 0.03, 0.01, 0.003)


@pytest.fixture(scope="session")
def twelve_runs(toy_run, tmp_path_factory) -> Path:
    """12 copies of the toy run in one ``runs/`` folder, as a sweep of train.lr (LRS) × seed (0..2)
    would leave them: runs/0000 .. runs/0011, run i with lr LRS[i % 4] and seed i // 4."""
    import yaml

    root = tmp_path_factory.mktemp("sweep") / "runs"
    root.mkdir()
    for i in range(12):
        run = copy_run(toy_run, root, f"{i:04d}")
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        cfg["train"]["lr"], cfg["seed"] = LRS[i % 4], i // 4
        (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    return root


def copy_run(toy_run: Path, where: Path, name: str = "run") -> Path:
    """A copy of ``toy_run`` at ``where/name`` to change (with its .lock file, as any run has)."""
    dst = where / name
    shutil.copytree(toy_run, dst)
    return dst


@pytest.fixture
def one_thread():
    """In-process runs with the subprocesses' thread count (OMP_NUM_THREADS=1): the same floats."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def signal_state_restored(request):
    """Every test leaves Ctrl-C as it found it: Python's handler (KeyboardInterrupt), SIGTERM's, and
    an empty signal mask in the main thread. A test that does not fails here, by name, and the state
    is put back, so that no later test (a sweep stopped by Ctrl-C) waits on a swallowed signal."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    yield
    now = {s: signal.getsignal(s) for s in handlers}
    now_mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    for s, h in handlers.items():
        signal.signal(s, h)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    assert now == handlers and now_mask == mask, (
        f"{request.node.nodeid} left signal state changed: handlers {now} (were {handlers}), "
        f"mask {now_mask} (was {mask})")
