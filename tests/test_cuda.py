"""The CUDA path (cuDNN time passes, cuBLAS depth products): the same numbers as the CPU's exact
orders. Marked ``cuda``; on a machine without a CUDA device every test here is skipped with the
reason. ``benchmarks/gpu_check.sh`` runs them (``pytest -m cuda``)."""
from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import torch

from gridlstm.config import ModelConfig, TaskConfig, build_config
from gridlstm.nn import registry
from gridlstm.nn.model import RecurrentModel
from gridlstm.probe.gradients import probe_gradients
from gridlstm.tasks import make_task

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(),
                                                    reason=f"no CUDA device (torch {torch.__version__})")]
KINDS = registry.cases()
CUDA = torch.device("cuda")


def models(kind: str, schedules: tuple[str, ...], dtype: torch.dtype, D: int = 3, H: int = 8, inp: int = 3):
    out = []
    for schedule in schedules:
        torch.manual_seed(0)
        out.append(RecurrentModel(ModelConfig(hidden=H, layers=D, schedule=schedule, **KINDS[kind]), inp, 2)
                   .to(CUDA, dtype))
    for m in out[1:]:
        m.load_state_dict(out[0].state_dict())
    return out


def step(m: RecurrentModel, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    out = m.features(x)
    grads = torch.autograd.grad(out.square().mean(), list(m.parameters()))
    return out.detach(), list(grads)


@pytest.mark.parametrize("kind", list(KINDS))
def test_cudnn_layerwise_equals_the_wavefront_in_float32(kind):
    wave, layer = models(kind, ("wavefront", "layerwise"), torch.float32)
    x = torch.randn(4, 12, 3, device=CUDA)
    (ow, gw), (ol, gl) = step(wave, x), step(layer, x)
    torch.testing.assert_close(ol, ow, rtol=1e-4, atol=1e-5)
    for a, b in zip(gl, gw, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3 * float(b.abs().max()))


@pytest.mark.parametrize("kind", list(KINDS))
def test_float64_orders_agree_where_cudnn_takes_float64(kind):
    wave, naive, layer = models(kind, ("wavefront", "naive"), torch.float64) + models(kind, ("layerwise",), torch.float64)
    layer.load_state_dict(wave.state_dict())
    x = torch.randn(3, 7, 3, device=CUDA, dtype=torch.float64)
    ref = step(wave, x)
    for m in (naive, layer):
        out, grads = step(m, x)
        torch.testing.assert_close(out, ref[0], rtol=1e-10, atol=1e-12)
        for a, b in zip(grads, ref[1], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", ["lstm", "grid memory_input", "grid paper priority=depth"])
def test_probe_on_cuda_equals_the_cpu_probe_in_float64(kind):
    task = make_task(TaskConfig(name="adding", length=6))
    x, y = task.sample(3, torch.Generator().manual_seed(1))
    (gpu,) = models(kind, ("auto",), torch.float64, inp=task.input_size)
    cpu = RecurrentModel(gpu.cfg, task.input_size, 2).double()
    cpu.load_state_dict({k: v.cpu() for k, v in gpu.state_dict().items()})
    cpu.readout, gpu.readout = torch.nn.Linear(8, 1).double(), torch.nn.Linear(8, 1).double().to(CUDA)
    gpu.readout.load_state_dict(cpu.readout.state_dict())
    a = probe_gradients(cpu, task, x.double(), y.double())
    b = probe_gradients(gpu, task, x.double().to(CUDA), y.double().to(CUDA))
    for name in a.grads:
        torch.testing.assert_close(b.grads[name].cpu(), a.grads[name], rtol=1e-9, atol=1e-12)


def test_train_interrupt_and_resume_on_cuda_equal_an_uninterrupted_run(tmp_path):
    from gridlstm.train.lifecycle import resume_run, start_run
    from gridlstm.train.signals import StopSignals

    cfg = build_config({"name": "gpu", "task": {"name": "adding", "length": 8},
                        "model": {"kind": "grid", "hidden": 8, "layers": 2},
                        "train": {"steps": 12, "batch_size": 4, "eval_every": 4, "eval_batches": 1,
                                  "checkpoint_every": 3, "early_stop": False},
                        "gradients": {"at_steps": [], "at_end": False}})
    ref = Path(start_run(cfg, tmp_path / "ref", "cuda", argv=["test"]).run_dir)
    stop = StopSignals()

    def stop_at_7(trainer):  # as the first Ctrl-C does it (tests/test_lifecycle.py stop_after)
        if trainer.step == 7:
            stop.signum = signal.SIGINT
    run = tmp_path / "run"
    assert start_run(cfg, run_dir=run, device="cuda", argv=["test"], hooks=(stop_at_7,), stop=stop).status == "interrupted"
    assert resume_run(run, device="cuda", argv=["test"]).status == "completed"
    rows = [(d / "metrics.csv").read_text().splitlines() for d in (ref, run)]
    strip = [[",".join(r.split(",")[:-1]) for r in rs] for rs in rows]  # the last column is seconds
    assert strip[0] == strip[1]
    assert json.loads((run / "meta.json").read_text())["device"] == "cuda"


def test_gradcheck_on_cuda_writes_its_files(tmp_path):
    from gridlstm.api import measure_gradients

    cfg = build_config({"task": {"name": "adding", "length": 10}, "model": {"kind": "grid", "hidden": 8, "layers": 2},
                        "train": {"batch_size": 4}})
    result = measure_gradients(cfg, device="cuda", out=tmp_path)
    assert result.meta["device"].startswith("cuda") and (tmp_path / "gradients.csv").is_file()
    assert all(r["norm"] >= 0 for r in result.rows)
