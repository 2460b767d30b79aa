"""The README's first command on a busy machine: ``gridlstm train configs/default.yaml`` beside two
busy processes, as users run it (no environment variables) against ``OMP_NUM_THREADS=1``.

    .venv/bin/python benchmarks/train_loaded.py                    # the whole default run, once each
    .venv/bin/python benchmarks/train_loaded.py train.steps=300    # overrides go to the command

Both variants run through the console entry point (``cli/launch.py``), interleaved, beside the same
two busy processes (busy.py); wall and CPU seconds of each are printed and written as JSON
(``--json``, default benchmarks/train_loaded.json) with the load average beside each run.
Target (issue 23): no-env wall / OMP_NUM_THREADS=1 wall ≤ 1.5.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from busy import busy  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {"no env vars": {}, "OMP_NUM_THREADS=1": {"OMP_NUM_THREADS": "1"}}
TARGET = 1.5


def run_once(env_extra: dict[str, str], overrides: list[str], out: Path) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMP_")}
    env.update({"PYTHONPATH": str(ROOT), **env_extra})
    cmd = [sys.executable, "-m", "gridlstm.cli.launch", "train", str(ROOT / "configs/default.yaml"),
           *overrides, "--out", str(out)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "load_before": load, "load_after": os.getloadavg()[0]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("overrides", nargs="*", help="key=value overrides for the train command")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--busy", type=int, default=2, help="busy processes beside the runs")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "train_loaded.json")
    args = ap.parse_args(argv)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp, busy(args.busy):
        for _ in range(args.repeats):
            for name, env in VARIANTS.items():
                r = run_once(env, args.overrides, Path(tmp))
                runs[name].append(r)
                print(f"{name}: {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU "
                      f"(load average {r['load_before']:.2f} → {r['load_after']:.2f})", flush=True)
    walls = {n: min(r["wall_s"] for r in rs) for n, rs in runs.items()}
    ratio = walls["no env vars"] / walls["OMP_NUM_THREADS=1"]
    print(f"no env vars / OMP_NUM_THREADS=1 = {ratio:.2f}× (target ≤ {TARGET}×)")
    args.json.write_text(json.dumps({"command": ["gridlstm", "train", "configs/default.yaml", *args.overrides],
                                     "busy": args.busy, "cores": os.cpu_count(), "runs": runs, "ratio": ratio,
                                     "target": TARGET, "met": ratio <= TARGET}, indent=1) + "\n")


if __name__ == "__main__":
    main()
