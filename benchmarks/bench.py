"""Training-step cost of our explicit-loop models against PyTorch's fused RNN/LSTM kernels.

Usage (``make bench`` runs the first line):

    .venv/bin/python benchmarks/bench.py                       # CPU, both shapes, writes results.md
    .venv/bin/python benchmarks/bench.py --quick               # small shapes, a few repeats
    .venv/bin/python benchmarks/bench.py --device cuda --quick

Every candidate runs one training step (forward + backward of a scalar loss on the top-layer
outputs at every step, then ``grad = None``) on the same input, and the candidates are
*interleaved* in one loop, so that load from other processes hits all of them alike; each number
is the median over the repeats. Ratios are taken inside one run:

    our rnn / nn.RNN,  our lstm / nn.LSTM  (same B, T, H, D; nn.* run the fused oneDNN/cuDNN kernels)
    our grid (wavefront) / nn.LSTM of the same depth   (a grid block is two LSTM transforms: ideal ≈ 2)
    grid naive / grid wavefront
    gradcheck (``gradients.measure``: one probed forward + one backward, every ∂L/∂state[t, d]) /
        one training step of the same grid on the adding task

Memory: on CUDA the peak of ``torch.cuda.max_memory_allocated`` during the step; on the CPU (no
allocator statistics) the bytes of the distinct tensors autograd saves for the backward pass, the
part of a step's memory that grows with T and D.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gridlstm.config import ModelConfig, TaskConfig  # noqa: E402
from gridlstm.nn.model import RecurrentModel  # noqa: E402
from gridlstm.probe.gradients import measure  # noqa: E402
from gridlstm.tasks import make_task  # noqa: E402

SHAPES = [(32, 200, 128, 4), (32, 1000, 64, 2)]        # (B, T, H, D), the two shapes
QUICK_SHAPES = [(8, 40, 32, 4), (8, 100, 16, 2)]
# (row, reference row, target ratio): row / reference must be <= target
TARGETS = [("rnn", "nn.RNN", 1.5), ("lstm", "nn.LSTM", 2.0), ("grid", "nn.LSTM", 2.5),
           ("gradcheck", "grid (adding)", 1.5)]
SPEEDUP = ("grid naive", "grid", 2.0)                   # naive / wavefront must be >= 2 (at D = 4)


@dataclass
class Candidate:
    name: str
    step: Callable[[], None]          # one forward + backward
    model: nn.Module


def ours(kind: str, H: int, D: int, inp: int, schedule: str = "wavefront", **kw) -> RecurrentModel:
    return RecurrentModel(ModelConfig(kind=kind, hidden=H, layers=D, schedule=schedule, **kw), inp, 1)


def train_step(model: nn.Module, x: Tensor) -> Callable[[], None]:
    """Forward + backward of mean(top²) over every step; ours and torch's alike."""
    fused = isinstance(model, (nn.RNN, nn.LSTM))

    def step() -> None:
        out = model(x)[0] if fused else model.features(x)  # (B, T, H)
        out.square().mean().backward()
        for p in model.parameters():
            p.grad = None
    return step


def candidates(B: int, T: int, H: int, D: int, device: torch.device) -> list[Candidate]:
    torch.manual_seed(0)
    x = torch.randn(B, T, H, device=device)  # (B, T, H)
    models = {
        "nn.RNN": nn.RNN(H, H, D, batch_first=True),
        "rnn": ours("rnn", H, D, H),
        "nn.LSTM": nn.LSTM(H, H, D, batch_first=True),
        "lstm": ours("lstm", H, D, H),
        "grid": ours("grid", H, D, H),
        "grid paper": ours("grid", H, D, H, variant="paper"),
        "grid tied": ours("grid", H, D, H, tied=True),
        "grid naive": ours("grid", H, D, H, schedule="naive"),
    }
    out = [Candidate(n, train_step(m.to(device), x), m) for n, m in models.items()]
    # gradcheck vs a training step of the same grid on a real task (its input is 2 channels wide)
    task = make_task(TaskConfig(name="adding", length=T))
    xa, ya = task.sample(B, torch.Generator().manual_seed(0))
    xa, ya = xa.to(device), ya.to(device)
    grid = ours("grid", H, D, task.input_size).to(device)

    def task_step() -> None:
        task.loss(grid(xa, task.scores), ya).backward()
        for p in grid.parameters():
            p.grad = None
    out.append(Candidate("grid (adding)", task_step, grid))
    out.append(Candidate("gradcheck", lambda: measure(grid, task, xa, ya), grid))
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def memory_mb(c: Candidate, device: torch.device) -> float:
    """CUDA: peak allocated during one step.  CPU: distinct storages saved for backward (no params)."""
    if device.type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        c.step()
        sync(device)
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    params = {p.untyped_storage().data_ptr() for p in c.model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        st = t.untyped_storage()
        if st.data_ptr() not in params:
            seen[st.data_ptr()] = st.nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        c.step()
    return sum(seen.values()) / 2**20


def time_all(cands: list[Candidate], repeats: int, device: torch.device) -> dict[str, list[float]]:
    for c in cands:  # warm-up (allocator, oneDNN primitive cache)
        c.step()
    times: dict[str, list[float]] = {c.name: [] for c in cands}
    for _ in range(repeats):
        for c in cands:  # interleaved: a burst of load from elsewhere hits every candidate alike
            sync(device)
            t0 = time.perf_counter()
            c.step()
            sync(device)
            times[c.name].append(time.perf_counter() - t0)
    return times


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name()
    try:
        info = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        name = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("Model name")),
                    platform.processor())
    except (OSError, subprocess.CalledProcessError):
        name = platform.processor() or "unknown CPU"
    return f"{name}, {os.cpu_count()} logical cores"


def shape_table(shape: tuple[int, int, int, int], times: dict[str, list[float]],
                mem: dict[str, float]) -> tuple[list[str], dict[str, float]]:
    med = {n: statistics.median(v) for n, v in times.items()}
    refs = {"rnn": "nn.RNN", "lstm": "nn.LSTM", "grid": "nn.LSTM", "grid paper": "nn.LSTM",
            "grid tied": "nn.LSTM", "grid naive": "grid", "gradcheck": "grid (adding)"}
    B, T, H, D = shape
    lines = [f"### B={B}, T={T}, H={H}, D={D}", "",
             "| candidate | median ms | min–max ms | ratio | memory MB |", "|---|---:|---:|---:|---:|"]
    for n, v in times.items():
        ratio = f"{med[n] / med[refs[n]]:.2f}× {refs[n]}" if n in refs else ""
        lines.append(f"| {n} | {med[n] * 1e3:.1f} | {min(v) * 1e3:.1f}–{max(v) * 1e3:.1f} | {ratio} "
                     f"| {mem[n]:.1f} |")
    return lines, med


def verdicts(meds: dict[tuple[int, int, int, int], dict[str, float]]) -> list[str]:
    lines = ["| shape | check | measured | target | met |", "|---|---|---:|---:|---|"]
    for shape, med in meds.items():
        tag = "B={},T={},H={},D={}".format(*shape)
        for row, ref, target in TARGETS:
            r = med[row] / med[ref]
            miss = "yes" if r <= target else f"no, by {100 * (r / target - 1):.0f}%"
            lines.append(f"| {tag} | {row} / {ref} | {r:.2f}× | ≤ {target}× | {miss} |")
        slow, fast, target = SPEEDUP
        r = med[slow] / med[fast]
        miss = "yes" if r >= target else f"no, by {100 * (1 - r / target):.0f}%"
        lines.append(f"| {tag} | {slow} / {fast} (speed-up) | {r:.2f}× | ≥ {target}× | {miss} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Example:\n  .venv/bin/python benchmarks/bench.py --quick")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--quick", action="store_true", help="small shapes and 3 repeats (a smoke run)")
    ap.add_argument("--repeats", type=int, default=None, help="timed steps per candidate (default 7, quick 3)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch CPU threads")
    ap.add_argument("--out", type=Path, default=None,
                    help="results file (default benchmarks/results.md; results-<device>[-quick].md otherwise)")
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error(f"--device cuda: CUDA is not available (torch {torch.__version__}); use --device cpu")
    if args.threads < 1:
        ap.error(f"--threads must be >= 1 (got {args.threads})")
    if args.repeats is not None and args.repeats < 1:
        ap.error(f"--repeats must be >= 1 (got {args.repeats})")
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    repeats = args.repeats or (3 if args.quick else 7)
    shapes = QUICK_SHAPES if args.quick else SHAPES
    out = args.out or ROOT / "benchmarks" / (
        "results.md" if args.device == "cpu" and not args.quick
        else f"results-{args.device}{'-quick' if args.quick else ''}.md")

    load0 = os.getloadavg()[0]
    if load0 > 0.5 * (os.cpu_count() or 1):
        print(f"warning: load average {load0:.2f} on {os.cpu_count()} cores: other work is running, so "
              "the ratios will be noisy (they are recorded with the load)", file=sys.stderr)
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body, meds = [], {}
    for shape in shapes:
        cands = candidates(*shape, device)
        times = time_all(cands, repeats, device)
        mem = {c.name: memory_mb(c, device) for c in cands}
        lines, meds[shape] = shape_table(shape, times, mem)
        body += lines + [""]
        print("\n".join(lines) + "\n", flush=True)
    checks = verdicts(meds)
    print("\n".join(checks))
    head = [
        "# Benchmarks: one training step (forward + backward), ours vs PyTorch's fused kernels", "",
        f"- command: `{' '.join(['benchmarks/bench.py', *(argv if argv is not None else sys.argv[1:])])}`",
        f"- date: {started}; machine: {machine(device)}; device: {args.device}",
        f"- torch {torch.__version__}; threads: {torch.get_num_threads()}; repeats: {repeats} "
        f"(median; candidates interleaved); load average 1 min: {load0:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at end",
        "- rows: `grid` = memory_input variant, untied, wavefront (the default); `grid naive` = the same model, "
        "naive T·D loop; `grid (adding)` = one training step of that grid on the adding task, "
        "`gradcheck` = `gradients.measure` on the same batch (probed forward + one backward)",
        "- memory: " + ("peak CUDA memory allocated during the step" if device.type == "cuda" else
                        "tensors saved for backward (distinct storages, parameters excluded)"),
        "", "## Targets", "", *checks, "", "## Per shape", "", *body,
    ]
    notes = ROOT / "benchmarks" / "notes.md"
    if notes.exists():
        head += [notes.read_text().rstrip(), ""]
    out.write_text("\n".join(head))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
