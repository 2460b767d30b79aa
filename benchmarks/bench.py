"""Training-step cost of our explicit-loop models against PyTorch's fused RNN/LSTM kernels.

Usage (``make bench`` runs the first line):

    .venv/bin/python benchmarks/bench.py --loaded --write-table  # CPU, both shapes, quiet and loaded
    .venv/bin/python benchmarks/bench.py                       # CPU, both shapes, results.md + .json
    .venv/bin/python benchmarks/bench.py --quick               # small shapes, a few repeats
    .venv/bin/python benchmarks/bench.py --device cuda --quick
    .venv/bin/python benchmarks/bench.py --json out.json       # every row, ratio and target as JSON

``--loaded`` times every training-step row a second time beside two busy processes (busy.py),
started and stopped by the bench, and reports per row the loaded time over the quiet one of the
same run. ``--write-table`` writes gridlstm/nn/schedule_table.py (the order ``model.schedule: auto``
runs per kind) from the ``<kind> layerwise`` / ``<kind> wavefront`` rows. ``--threads auto`` (the
default) gives each shape the thread count ``train.threads: auto`` would (gridlstm/threads.py), and
the OpenMP wait policy is passive unless the environment sets one, as for the ``gridlstm`` command.

Every candidate runs one training step (forward + backward of a scalar loss on the top-layer
outputs at every step, then ``grad = None``) on the same input, and the candidates are
*interleaved* in one loop, so that load from other processes hits all of them alike; each number
is the median over the repeats. Ratios are taken inside one run:

    our rnn / nn.RNN,  our lstm / nn.LSTM  (same B, T, H, D; nn.* run the fused oneDNN/cuDNN kernels),
        under auto and under each exact order (layerwise, wavefront)
    our grids (model.schedule auto = layerwise) / nn.LSTM of the same depth: memory_input and paper with the
        standard output form, untied and tied; the paper output form tanh(o⊙m) (own time loop)
    the same models on the wavefront and naive orders, for comparison (naive / wavefront)
    gradcheck (``gradients.measure``: one probed forward (wavefront) + one backward, every
        ∂L/∂state[t, d]) / one training step of the same grid on the adding task (layerwise), and
        / the same step on the wavefront; measure_gradients (``gridlstm.api.measure_gradients`` of
        the same grid's config: build, probe, decay summary and theory, as a user pays it) / that step
    memory: grid (layerwise) / grid wavefront

Memory: on CUDA the peak of ``torch.cuda.max_memory_allocated`` during the step; on the CPU (no
allocator statistics) the bytes of the distinct tensors autograd saves for the backward pass, the
part of a step's memory that grows with T and D.
"""
from __future__ import annotations

import argparse
import json
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gridlstm.threads import choose_threads, passive_wait_env  # noqa: E402

passive_wait_env(os.environ)  # before torch loads its OpenMP runtime, as the gridlstm command does

import schedule_table  # noqa: E402
import torch  # noqa: E402
from busy import busy  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from gridlstm.api import measure_gradients  # noqa: E402
from gridlstm.config import ModelConfig, TaskConfig, build_config  # noqa: E402
from gridlstm.nn.model import RecurrentModel  # noqa: E402
from gridlstm.probe.gradients import measure  # noqa: E402
from gridlstm.tasks import make_task  # noqa: E402

SHAPES = [(32, 200, 128, 4), (32, 1000, 64, 2)]        # (B, T, H, D), the two shapes
QUICK_SHAPES = [(8, 40, 32, 4), (8, 100, 16, 2)]
# (row, reference row, target ratio): row / reference must be <= target (time)
TARGETS = [("rnn", "nn.RNN", 1.0), ("lstm", "nn.LSTM", 1.1), ("grid", "nn.LSTM", 1.6),
           ("grid tied", "nn.LSTM", 1.6), ("grid paper", "nn.LSTM", 1.6), ("grid paper tied", "nn.LSTM", 1.6),
           ("grid paper-out", "nn.LSTM", 3.0), ("gradcheck", "grid (adding)", 1.5),
           ("measure_gradients", "grid (adding)", 1.5)]
MEMORY_TARGETS = [("grid", "grid wavefront", 1.5), ("grid paper-out", "grid paper-out wavefront", 1.5),
                  ("lstm", "lstm wavefront", 1.5)]  # saved-tensor memory (CPU) or peak (CUDA)
SPEEDUP = ("grid naive", "grid wavefront", 2.0)         # naive / wavefront must be >= 2 (at D = 4)
# reference of each row's ratio column
REFS = {"rnn": "nn.RNN", "lstm": "nn.LSTM", "grid": "nn.LSTM", "grid tied": "nn.LSTM",
        "grid paper": "nn.LSTM", "grid paper tied": "nn.LSTM", "grid paper-out": "nn.LSTM",
        "rnn wavefront": "nn.RNN", "lstm wavefront": "nn.LSTM", "grid wavefront": "nn.LSTM",
        "grid paper-out wavefront": "nn.LSTM", "grid naive": "grid wavefront",
        "grid (adding) wavefront": "grid (adding)", "gradcheck": "grid (adding)",
        "measure_gradients": "grid (adding)", "gradcheck layerwise": "grid (adding)",
        "gradcheck wavefront": "grid (adding)", "lstm gradcheck wavefront": "lstm gradcheck layerwise",
        "rnn layerwise": "nn.RNN", "lstm layerwise": "nn.LSTM",
        "grid layerwise": "nn.LSTM", "gru": "nn.GRU", "gru wavefront": "nn.GRU", "gru layerwise": "nn.GRU"}
NOT_TRAINING = ("gradcheck", "measure_gradients", "gradcheck layerwise", "gradcheck wavefront",
                "lstm gradcheck layerwise", "lstm gradcheck wavefront")  # the rows that are not a training step


@dataclass
class Candidate:
    name: str
    step: Callable[[], None]          # one forward + backward
    model: nn.Module


def ours(kind: str, H: int, D: int, inp: int, schedule: str = "auto", **kw) -> RecurrentModel:
    return RecurrentModel(ModelConfig(kind=kind, hidden=H, layers=D, schedule=schedule, **kw), inp, 1)


def train_step(model: nn.Module, x: Tensor) -> Callable[[], None]:
    """Forward + backward of mean(top²) over every step; ours and torch's alike."""
    fused = isinstance(model, (nn.RNN, nn.LSTM, nn.GRU))

    def step() -> None:
        out = model(x)[0] if fused else model.features(x)  # (B, T, H)
        out.square().mean().backward()
        for p in model.parameters():
            p.grad = None
    return step


def candidates(B: int, T: int, H: int, D: int, device: torch.device) -> list[Candidate]:
    torch.manual_seed(0)
    x = torch.randn(B, T, H, device=device)  # (B, T, H)
    wave, paper_out = {"schedule": "wavefront"}, {"variant": "paper", "output": "paper"}
    layer = {"schedule": "layerwise"}
    models = {
        "nn.RNN": nn.RNN(H, H, D, batch_first=True),
        "rnn": ours("rnn", H, D, H),
        "nn.LSTM": nn.LSTM(H, H, D, batch_first=True),
        "lstm": ours("lstm", H, D, H),
        "grid": ours("grid", H, D, H),
        "grid tied": ours("grid", H, D, H, tied=True),
        "grid paper": ours("grid", H, D, H, variant="paper"),
        "grid paper tied": ours("grid", H, D, H, variant="paper", tied=True),
        "grid paper-out": ours("grid", H, D, H, **paper_out),
        "rnn wavefront": ours("rnn", H, D, H, **wave),
        "lstm wavefront": ours("lstm", H, D, H, **wave),
        "grid wavefront": ours("grid", H, D, H, **wave),
        "grid paper-out wavefront": ours("grid", H, D, H, **paper_out, **wave),
        "grid naive": ours("grid", H, D, H, schedule="naive"),
        "rnn layerwise": ours("rnn", H, D, H, **layer),
        "lstm layerwise": ours("lstm", H, D, H, **layer),
        "grid layerwise": ours("grid", H, D, H, **layer),
        "nn.GRU": nn.GRU(H, H, D, batch_first=True),
        "gru": ours("gru", H, D, H),
        "gru wavefront": ours("gru", H, D, H, **wave),
        "gru layerwise": ours("gru", H, D, H, **layer),
    }
    out = [Candidate(n, train_step(m.to(device), x), m) for n, m in models.items()]
    # gradcheck vs a training step of the same grid on a real task (its input is 2 channels wide)
    task = make_task(TaskConfig(name="adding", length=T))
    xa, ya = task.sample(B, torch.Generator().manual_seed(0))
    xa, ya = xa.to(device), ya.to(device)
    grid = ours("grid", H, D, task.input_size).to(device)          # auto: layerwise steps, wavefront probes
    grid_wave = ours("grid", H, D, task.input_size, schedule="wavefront").to(device)

    def task_step(m: RecurrentModel) -> Callable[[], None]:
        def step() -> None:
            task.loss(m(xa, task.scores), ya).backward()
            for p in m.parameters():
                p.grad = None
        return step
    out.append(Candidate("grid (adding)", task_step(grid), grid))
    out.append(Candidate("grid (adding) wavefront", task_step(grid_wave), grid_wave))
    out.append(Candidate("gradcheck", lambda: measure(grid, task, xa, ya), grid))
    for kind in ("grid", "lstm"):  # the probe under each exact order that probes (schedule_table.PROBE)
        for order in schedule_table.ORDERS:
            m = grid if (kind, order) == ("grid", "layerwise") else ours(kind, H, D, task.input_size, schedule=order).to(device)
            name = f"{'' if kind == 'grid' else 'lstm '}gradcheck {order}"
            out.append(Candidate(name, lambda m=m: measure(m, task, xa, ya), m))
    cfg = build_config({"task": {"name": "adding", "length": T}, "model": {"kind": "grid", "hidden": H, "layers": D},
                        "train": {"batch_size": B, "threads": torch.get_num_threads()}})
    out.append(Candidate("measure_gradients", lambda: measure_gradients(cfg, device=device.type), grid))
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


def shape_rows(times: dict[str, list[float]], mem: dict[str, float],
               loaded: dict[str, list[float]] | None = None) -> list[dict]:
    """One dict per candidate: median/min/max ms, memory MB, and the ratio to its reference row; with
    ``loaded`` times also the loaded median, loaded / quiet, and the ratio to the reference under load."""
    med = {n: statistics.median(v) for n, v in times.items()}
    lmed = {n: statistics.median(v) for n, v in (loaded or {}).items()}
    rows = []
    for n, v in times.items():
        r = {"name": n, "median_ms": med[n] * 1e3, "min_ms": min(v) * 1e3, "max_ms": max(v) * 1e3,
             "memory_mb": mem[n], "ref": REFS.get(n), "ratio": med[n] / med[REFS[n]] if n in REFS else None}
        if n in lmed:
            r.update(loaded_median_ms=lmed[n] * 1e3, loaded_over_quiet=lmed[n] / med[n],
                     loaded_ratio=lmed[n] / lmed[REFS[n]] if REFS.get(n) in lmed else None)
        rows.append(r)
    return rows


def shape_table(shape: tuple[int, int, int, int], rows: list[dict]) -> list[str]:
    B, T, H, D = shape
    lines = [f"### B={B}, T={T}, H={H}, D={D}", "",
             "| candidate | median ms | min–max ms | ratio | memory MB | loaded ms | loaded / quiet | loaded ratio |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = f"{r['ratio']:.2f}× {r['ref']}" if r["ref"] else ""
        lr = r.get("loaded_ratio")
        loaded = (f"{r['loaded_median_ms']:.1f} | {r['loaded_over_quiet']:.2f}× | " + (f"{lr:.2f}×" if lr else "")
                  if "loaded_median_ms" in r else " | | ")
        lines.append(f"| {r['name']} | {r['median_ms']:.1f} | {r['min_ms']:.1f}–{r['max_ms']:.1f} | {ratio} "
                     f"| {r['memory_mb']:.1f} | {loaded} |")
    return lines


def checks(rows: list[dict]) -> list[dict]:
    """Every target of one shape: {check, measured, target, op, met}."""
    by = {r["name"]: r for r in rows}
    out = []
    for row, ref, target in TARGETS:
        out.append({"check": f"{row} / {ref}", "measured": by[row]["median_ms"] / by[ref]["median_ms"],
                    "target": target, "op": "<="})
    for row, ref, target in MEMORY_TARGETS:
        out.append({"check": f"memory {row} / {ref}", "measured": by[row]["memory_mb"] / by[ref]["memory_mb"],
                    "target": target, "op": "<="})
    slow, fast, target = SPEEDUP
    out.append({"check": f"{slow} / {fast} (speed-up)", "measured": by[slow]["median_ms"] / by[fast]["median_ms"],
                "target": target, "op": ">="})
    for c in out:
        c["met"] = c["measured"] <= c["target"] if c["op"] == "<=" else c["measured"] >= c["target"]
    return out


def verdicts(results: dict[tuple[int, int, int, int], list[dict]]) -> list[str]:
    lines = ["| shape | check | measured | target | met |", "|---|---|---:|---:|---|"]
    for shape, cs in results.items():
        tag = "B={},T={},H={},D={}".format(*shape)
        for c in cs:
            r, target = c["measured"], c["target"]
            by = r / target - 1 if c["op"] == "<=" else 1 - r / target
            miss = "yes" if c["met"] else f"no, by {100 * by:.0f}%"
            lines.append(f"| {tag} | {c['check']} | {r:.2f}× | {'≤' if c['op'] == '<=' else '≥'} {target}× | {miss} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Example:\n  .venv/bin/python benchmarks/bench.py --quick")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--quick", action="store_true", help="small shapes and 3 repeats (a smoke run)")
    ap.add_argument("--repeats", type=int, default=None, help="timed steps per candidate (default 7, quick 3)")
    ap.add_argument("--threads", default="auto", help="torch CPU threads: auto (per shape, as train.threads: auto) or N")
    ap.add_argument("--loaded", action="store_true", help="also time every training step beside two busy processes")
    ap.add_argument("--write-table", action="store_true",
                    help="write gridlstm/nn/schedule_table.py (auto's order per kind) from this run")
    ap.add_argument("--out", type=Path, default=None,
                    help="results file (default benchmarks/results.md; results-<device>[-quick].md otherwise)")
    ap.add_argument("--json", type=Path, default=None,
                    help="every row, ratio and target as JSON (default: the results file with .json)")
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error(f"--device cuda: CUDA is not available (torch {torch.__version__}); use --device cpu")
    if args.threads != "auto" and not (args.threads.isdigit() and int(args.threads) >= 1):
        ap.error(f"--threads must be auto or a number >= 1 (got {args.threads})")
    if args.repeats is not None and args.repeats < 1:
        ap.error(f"--repeats must be >= 1 (got {args.repeats})")
    device = torch.device(args.device)
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
    body, per_shape, verdict, threads, loads = [], {}, {}, {}, {}
    for shape in shapes:
        threads[shape] = choose_threads(args.threads if args.threads == "auto" else int(args.threads),
                                        shape[0], shape[2]).threads
        torch.set_num_threads(threads[shape])
        cands = candidates(*shape, device)
        times = time_all(cands, repeats, device)
        mem = {c.name: memory_mb(c, device) for c in cands}
        loaded = None
        if args.loaded:
            with busy(2):
                load_in = os.getloadavg()[0]
                loaded = time_all([c for c in cands if c.name not in NOT_TRAINING], repeats, device)
                loads[shape] = (load_in, os.getloadavg()[0])
        per_shape[shape] = shape_rows(times, mem, loaded)
        verdict[shape] = checks(per_shape[shape])
        lines = shape_table(shape, per_shape[shape])
        body += lines + [""]
        print("\n".join(lines) + "\n", flush=True)
    target_lines = verdicts(verdict)
    print("\n".join(target_lines))
    head = [
        "# Benchmarks: one training step (forward + backward), ours vs PyTorch's fused kernels", "",
        f"- command: `{' '.join(['benchmarks/bench.py', *(argv if argv is not None else sys.argv[1:])])}`",
        f"- date: {started}; machine: {machine(device)}; device: {args.device}",
        f"- torch {torch.__version__}; threads: {', '.join(str(threads[s]) for s in shapes)} (per shape, "
        f"--threads {args.threads}); repeats: {repeats} "
        f"(median; candidates interleaved); load average 1 min: {load0:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at end" + (f"; OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']} (set for a "
                                              "loaded machine: spinning threads stall when descheduled)"
                                              if os.environ.get("OMP_WAIT_POLICY") else ""),
        "- rows: ours run `model.schedule: auto` (layerwise for training steps) unless the name says "
        "`wavefront` or `naive`; `grid` = memory_input variant, untied; `paper` = paper variant, output form "
        "o⊙tanh(m); `paper-out` = paper variant, output form tanh(o⊙m); `grid (adding)` = one training "
        "step of the memory_input grid on the adding task, `gradcheck` = `gradients.measure` on the same batch "
        "(probed forward on the wavefront + one backward)",
        *(["- loaded: every training-step row timed again beside 2 busy processes; load average "
           + "; ".join(f"{a:.2f} → {b:.2f}" for a, b in loads.values())] if args.loaded else []),
        "- memory: " + ("peak CUDA memory allocated during the step" if device.type == "cuda" else
                        "tensors saved for backward (distinct storages, parameters excluded)"),
        "", "## Targets", "", *target_lines, "", "## Per shape", "", *body,
    ]
    notes = ROOT / "benchmarks" / "notes.md"
    if notes.exists():
        head += [notes.read_text().rstrip(), ""]
    out.write_text("\n".join(head))
    json_path = args.json or out.with_suffix(".json")
    json_path.write_text(json.dumps({
        "command": ["benchmarks/bench.py", *(argv if argv is not None else sys.argv[1:])],
        "date": started, "machine": machine(device), "device": args.device, "torch": torch.__version__,
        "threads_setting": args.threads, "repeats": repeats, "load_start": load0, "load_end": os.getloadavg()[0],
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "loaded": args.loaded, "busy_processes": 2 if args.loaded else 0,
        "shapes": [{"B": s[0], "T": s[1], "H": s[2], "D": s[3], "threads": threads[s], "rows": per_shape[s],
                    "targets": verdict[s], **({"load_while_loaded": loads[s]} if s in loads else {})}
                   for s in shapes],
        "all_met": all(c["met"] for cs in verdict.values() for c in cs),
    }, indent=1) + "\n")
    print(f"\nwrote {out} and {json_path}")
    if args.write_table:
        print(f"wrote {schedule_table.write(json.loads(json_path.read_text()))}")


if __name__ == "__main__":
    main()
