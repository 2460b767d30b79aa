"""Throw malformed inputs at the real CLI and count tracebacks, hangs and leftover folders.

    python scripts/fuzz_inputs.py [--jobs 2] [--timeout 60] [--only KIND] [-v]

Each case runs ``gridlstm ...`` in a subprocess inside a fresh scratch folder (a copy of one tiny
trained run and a sweep folder are there when a case needs them) and is judged on:

    traceback   "Traceback" or "internal error" on stderr
    exit        an exit code other than expected (1 or 2 for a malformed input, 0 for a valid path)
    hang        not done within --timeout seconds
    leftover    a failed command left a file or folder that was not there before, or changed one
                (a disk filling up mid-run may leave the run folder: it keeps what was written)
    message     stderr does not end in one "Error: ..." message (a config block of one line per
                problem, or click's usage block, counts as one message)

Kinds (the issue "Reliability, round 2"): 2 resource limits, 3 paths that look like overrides,
4 file-system errors and corrupt files, 5 bad values accepted silently. Prints a table by kind and
exits 1 when any case fails. Some cases mount small tmpfs file systems (read-only, full); they are
skipped when mounting is not allowed.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from fuzz_cases import TINY, all_cases  # noqa: E402


@dataclass
class Case:
    kind: int
    name: str
    setup: Callable[[Path], list[str]]     # builds inputs in the scratch folder, returns CLI args
    codes: tuple[int, ...] = (1, 2)        # acceptable exit codes
    may_write: bool = False                # outputs allowed (success, or a disk that fills up)
    env: dict[str, str] = field(default_factory=dict)
    needs: tuple[str, ...] = ()            # "run", "sweep", "mount"


@dataclass
class Outcome:
    case: Case
    code: Optional[int]
    problems: list[str]
    stderr: str = ""


def snapshot(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_symlink() or not p.exists():
            out[rel] = "link"
        elif p.is_dir():
            out[rel] = "dir"
        elif not p.is_file():  # a FIFO or device: reading it would block
            out[rel] = "special"
        else:
            try:
                out[rel] = hashlib.sha1(p.read_bytes()).hexdigest()
            except OSError:
                out[rel] = "unreadable"
    return out


def one_message(stderr: str) -> bool:
    lines = [line for line in stderr.splitlines() if line.strip()]
    if not lines:
        return False
    if lines[0].startswith("Usage:"):  # click's own usage errors
        return any(line.startswith("Error:") for line in lines)
    errors = [i for i, line in enumerate(lines) if line.startswith("Error:")]
    if len(errors) != 1:
        return False
    rest = lines[errors[0] + 1:]
    return all(line.startswith("  - ") for line in rest) and (not rest or "invalid config" in lines[errors[0]])


def run_case(case: Case, base: Path, timeout: float) -> Outcome:
    work = Path(tempfile.mkdtemp(prefix="fuzz-", dir=base))
    try:
        for need in case.needs:
            if need in ("run", "sweep"):
                shutil.copytree(base / f"_{need}", work / need, symlinks=True)
        try:
            args = case.setup(work)
        except PermissionError as e:  # e.g. mount not allowed here
            return Outcome(case, None, [f"skipped: {e}"])
        before = snapshot(work)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "160", **case.env}
        env.pop("GRIDLSTM_DEBUG", None)
        cmd = [sys.executable, "-c", "from gridlstm.cli.main import main; main()", *args]
        try:
            proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return Outcome(case, None, ["hang"])
        err = proc.stderr.decode(errors="replace")
        problems = []
        if "Traceback" in err or "internal error" in err:
            problems.append("traceback")
        elif proc.returncode not in case.codes:
            problems.append(f"exit {proc.returncode}, expected {case.codes}")
        if proc.returncode != 0 and not one_message(err):
            problems.append("message")
        if not case.may_write and proc.returncode != 0:
            after = snapshot(work)
            changed = [p for p in after if before.get(p) != after[p]]
            if changed:
                problems.append(f"leftover {changed[:3]}")
        return Outcome(case, proc.returncode, problems, err)
    finally:
        for mnt in sorted(work.rglob("*"), reverse=True):
            if mnt.is_dir() and os.path.ismount(mnt):
                subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def prepare(base: Path) -> None:
    """One tiny trained run (with a gradcheck) and one sweep folder, copied into cases that need them."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-c", "from gridlstm.cli.main import main; main()"]
    cfg = base / "tiny.yaml"
    cfg.write_text(TINY)
    out = subprocess.run([*cli, "train", str(cfg), "--out", str(base / "o"), "--device", "cpu"],
                         env=env, capture_output=True, text=True, check=True)
    run = Path(out.stdout.strip().splitlines()[-1])
    subprocess.run([*cli, "gradcheck", str(run), "--device", "cpu"], env=env, capture_output=True, check=True)
    shutil.copytree(run, base / "_run")
    sweep = base / "s.yaml"
    sweep.write_text(f"name: s\nbase: {cfg}\naxes:\n  seed: [0, 1]\n")
    code = ("import sys; from pathlib import Path; from gridlstm.sweep.spec import load_sweep; "
            "from gridlstm.sweep.folder import create_sweep_dir; "
            "print(create_sweep_dir(load_sweep(Path(sys.argv[1])), Path(sys.argv[2])))")
    made = subprocess.run([sys.executable, "-c", code, str(sweep), str(base / "so")], env=env,
                          capture_output=True, text=True, check=True)
    shutil.copytree(made.stdout.strip(), base / "_sweep")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=90)
    ap.add_argument("--only", type=int, default=None, help="run only this kind (2-5)")
    ap.add_argument("-k", default=None, help="run only cases whose name contains this")
    ap.add_argument("-v", action="store_true", help="print every failing case's stderr")
    ap.add_argument("--json", type=Path, default=None, help="write the outcomes here")
    opts = ap.parse_args()
    cases = [Case(**c) for c in all_cases()]
    cases = [c for c in cases if (opts.only is None or c.kind == opts.only) and (not opts.k or opts.k in c.name)]
    base = Path(tempfile.mkdtemp(prefix="gridlstm-fuzz-"))
    try:
        prepare(base)
        with ThreadPoolExecutor(opts.jobs) as pool:
            outcomes = list(pool.map(lambda c: run_case(c, base, opts.timeout), cases))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    table: dict[int, dict[str, int]] = {}
    failed = 0
    for o in outcomes:
        row = table.setdefault(o.case.kind, {"tried": 0, "skipped": 0, "traceback": 0, "hang": 0,
                                             "leftover": 0, "message": 0, "exit": 0})
        if o.problems and o.problems[0].startswith("skipped"):
            row["skipped"] += 1
            continue
        row["tried"] += 1
        for p in o.problems:
            row[p.split()[0]] += 1
        if o.problems:
            failed += 1
            print(f"FAIL kind {o.case.kind} {o.case.name}: exit {o.code}: {'; '.join(o.problems)}")
            if opts.v:
                print("    " + "\n    ".join(o.stderr.strip().splitlines()[-6:]))
    print("\n| kind | inputs tried | tracebacks | hangs | leftover folders | not one message | wrong exit code "
          "| skipped |")
    print("|---|---|---|---|---|---|---|---|")
    for kind in sorted(table):
        r = table[kind]
        print(f"| {kind} | {r['tried']} | {r['traceback']} | {r['hang']} | {r['leftover']} | {r['message']} "
              f"| {r['exit']} | {r['skipped']} |")
    total = sum(r["tried"] for r in table.values())
    print(f"\n{total} inputs, {failed} failing")
    if opts.json:
        opts.json.write_text(json.dumps([{"kind": o.case.kind, "name": o.case.name, "code": o.code,
                                          "problems": o.problems} for o in outcomes], indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
