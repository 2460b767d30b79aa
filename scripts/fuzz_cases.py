"""The malformed inputs of scripts/fuzz_inputs.py, by kind (see its docstring)."""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

TINY = ("task: {name: adding, length: 5}\nmodel: {kind: grid, hidden: 4, layers: 1}\n"
        "train: {steps: 2, eval_every: 1, log_every: 1, batch_size: 4, eval_batches: 1}\n")
TRAIN = ["--out", "out", "--device", "cpu"]
FLOAT_KEYS = ["model.forget_bias", "train.lr", "train.clip_norm", "train.target"]
INT_KEYS = ["seed", "task.length", "task.eval_seed", "model.hidden", "model.layers", "train.steps",
            "train.batch_size", "train.eval_every", "train.eval_batches", "train.log_every",
            "train.checkpoint_every", "train.skip_limit", "gradients.batch_size", "gradients.seeds"]


def write(work: Path, name: str, content: str | bytes) -> str:
    path = work / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return str(path.relative_to(work))


def mount(work: Path, name: str, opts: str) -> Path:
    where = work / name
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], capture_output=True)
    if r.returncode:
        shutil.rmtree(where, ignore_errors=True)
        raise PermissionError("cannot mount a tmpfs here")
    return where


def remount_ro(where: Path) -> None:
    r = subprocess.run(["mount", "-o", "remount,ro", str(where)], capture_output=True)
    if r.returncode:
        raise PermissionError("cannot remount read-only")


def case(kind: int, name: str, setup: Callable[[Path], list[str]], **kw: Any) -> dict[str, Any]:
    return {"kind": kind, "name": name, "setup": setup, **kw}


def train_with(text: str | bytes, *extra: str) -> Callable[[Path], list[str]]:
    return lambda w: ["train", write(w, "c.yaml", text), *extra, *TRAIN]


def sweep_with(text: str | bytes, *extra: str) -> Callable[[Path], list[str]]:
    def setup(w: Path) -> list[str]:
        write(w, "tiny.yaml", TINY)
        return ["sweep", write(w, "sw.yaml", text), *extra, "--out", "out"]
    return setup


# ----------------------------------------------------------------------------- kind 2: resources


def kind2() -> list[dict[str, Any]]:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(9))
    out = [
        case(2, "alias bomb in a config", train_with(TINY + bomb)),
        case(2, "alias bomb in a sweep file, dry run", sweep_with("base: tiny.yaml\n" + bomb + "axes: {seed: *j}\n",
                                                                 "--dry-run")),
        case(2, "alias bomb in a sweep file", sweep_with("base: tiny.yaml\n" + bomb + "axes: {seed: [0]}\n")),
        case(2, "one alias in a config", train_with("m: &m {kind: rnn}\nmodel: *m\n")),
        case(2, "merge key << in a config", train_with("x: &x {hidden: 4}\nmodel:\n  <<: *x\n  kind: rnn\n")),
        case(2, "alias in an override", train_with(TINY, "train.steps=[&a 1, *a]")),
        case(2, "sweep of 10^12 runs", sweep_with("base: tiny.yaml\naxes:\n" + "".join(
            f"  {k}: [{', '.join(str(v) for v in range(1, 11))}]\n" for k in
            ["seed", "task.eval_seed", "train.steps", "train.log_every", "train.eval_every", "train.skip_limit",
             "train.eval_batches", "gradients.seeds", "model.hidden", "train.batch_size", "task.length"][:12]),
            "--dry-run")),
        case(2, "sweep axis of 200,000 seeds", sweep_with(
            "base: tiny.yaml\naxes:\n  seed: [" + ", ".join(map(str, range(200_000))) + "]\n", "--dry-run")),
        case(2, "sweep of 20,000 runs over two axes", sweep_with(
            "base: tiny.yaml\naxes:\n  seed: [" + ", ".join(map(str, range(200))) + "]\n  task.eval_seed: ["
            + ", ".join(map(str, range(100))) + "]\n", "--dry-run")),
        case(2, "sweep where every run is over budget", sweep_with(
            "base: tiny.yaml\nconfig: {model.hidden: 8192, model.layers: 200}\naxes:\n  seed: ["
            + ", ".join(map(str, range(300))) + "]\n", "--dry-run")),
        case(2, "sweep of 40 distinct over-budget runs", sweep_with(
            "base: tiny.yaml\nconfig: {model.layers: 256}\naxes:\n  model.hidden: ["
            + ", ".join(map(str, range(8000, 8040))) + "]\n")),
        case(2, "sweep zip of 50,000", sweep_with(
            "base: tiny.yaml\nzip:\n  - {seed: [" + ", ".join(map(str, range(50_000))) + "], task.eval_seed: ["
            + ", ".join(map(str, range(50_000))) + "]}\n", "--dry-run")),
        case(2, "config file of 3 MB", train_with(TINY + "# " + "x" * 3_000_000 + "\n")),
        case(2, "config with 5,000 unknown keys", train_with(TINY + "".join(f"k{i}: {i}\n" for i in range(5000)))),
        case(2, "config with a 5,000-digit integer", train_with(TINY + "seed: " + "7" * 5000 + "\n")),
        case(2, "override with a 5,000-digit integer", train_with(TINY, "seed=" + "7" * 5000)),
        case(2, "override value of 100,000 characters", train_with(TINY, "name=" + "a" * 100_000)),
        case(2, "float with exponent 99999", train_with(TINY, "train.lr=1.0e99999")),
        case(2, "GRIDLSTM_MEMORY_GB=abc", train_with(TINY), env={"GRIDLSTM_MEMORY_GB": "abc"}),
        case(2, "GRIDLSTM_MEMORY_GB=0", train_with(TINY), env={"GRIDLSTM_MEMORY_GB": "0"}),
        case(2, "GRIDLSTM_MEMORY_GB=nan", train_with(TINY), env={"GRIDLSTM_MEMORY_GB": "nan"}),
        case(2, "GRIDLSTM_MEMORY_GB=0.000001 (tiny budget)", train_with(TINY), env={"GRIDLSTM_MEMORY_GB": "0.000001"}),
        case(2, "gradcheck --batch 10^10", lambda w: ["gradcheck", write(w, "c.yaml", TINY), "--batch", "10000000000",
                                                     "--device", "cpu"]),
        case(2, "gradcheck of a run with --batch 10^11", lambda w: ["gradcheck", "run", "--batch", "100000000000",
                                                                   "--device", "cpu"], needs=("run",)),
        case(2, "gradcheck of a config over budget", lambda w: ["gradcheck", write(w, "c.yaml", TINY),
                                                               "model.hidden=8000", "model.layers=200"]),
        case(2, "resume --force with a huge batch", lambda w: ["train", "--resume", "run", "--force",
                                                              "train.batch_size=100000000000"], needs=("run",)),
        case(2, "sweep file of 2 MB", sweep_with("base: tiny.yaml\naxes: {seed: [0]}\n#" + "y" * 2_000_000 + "\n")),
        case(2, "deep nesting in a sweep file (5,000)", sweep_with("axes: " + "[" * 5000 + "]" * 5000 + "\n",
                                                                   "--dry-run")),
    ]
    for key, value in [("train.batch_size", 10**12), ("train.eval_batches", 10**11), ("gradients.batch_size", 10**13),
                       ("seed", 2**64), ("seed", -(2**64)), ("task.eval_seed", 2**70), ("train.steps", 2**80),
                       ("train.checkpoint_every", 2**65), ("train.log_every", 10**30), ("model.hidden", 10**9),
                       ("task.length", 10**9), ("gradients.at_steps", f"[{2**70}]")]:
        out.append(case(2, f"{key}={value}", train_with(TINY, f"{key}={value}")))
    for hidden, layers, length in [(8192, 256, 50), (4096, 64, 100_000), (8192, 1, 100_000), (2048, 256, 2000)]:
        out.append(case(2, f"hidden={hidden} layers={layers} length={length}", train_with(
            TINY, f"model.hidden={hidden}", f"model.layers={layers}", f"task.length={length}")))
    return out


# ----------------------------------------------------------------------------- kind 3: paths


def kind3() -> list[dict[str, Any]]:
    def renamed(name: str) -> Callable[[Path], Path]:
        def go(w: Path) -> Path:
            (w / "runs").mkdir(exist_ok=True)
            (w / "run").rename(w / "runs" / name)
            return w / "runs" / name
        return go

    out = []
    for name in ["kind=lstm,seed=0", "model.hidden=8", "seed=1", "train.lr=0.1,x=y"]:
        out.append(case(3, f"gradcheck RUN named {name}", lambda w, n=name: (
            renamed(n)(w), ["gradcheck", f"runs/{n}", "--device", "cpu", "--out", "g"])[1],
            codes=(0,), may_write=True, needs=("run",)))
        out.append(case(3, f"train {name}/config.yaml", lambda w, n=name: (
            renamed(n)(w), ["train", f"runs/{n}/config.yaml", "train.steps=1", *TRAIN])[1],
            codes=(0,), may_write=True, needs=("run",)))
        out.append(case(3, f"train --resume {name}", lambda w, n=name: (
            renamed(n)(w), ["train", "--resume", f"runs/{n}", "--device", "cpu"])[1],
            codes=(0,), may_write=True, needs=("run",)))
        out.append(case(3, f"report {name}", lambda w, n=name: (renamed(n)(w), ["report", f"runs/{n}"])[1],
                        codes=(0,), needs=("run",)))
    out += [
        case(3, "config file named model.hidden=8 in the working folder",
             lambda w: (write(w, "model.hidden=8", TINY), ["train", "model.hidden=8", *TRAIN])[1],
             codes=(0,), may_write=True),
        case(3, "gradcheck RUN named a=b given with ./", lambda w: (
            renamed("a=b")(w), ["gradcheck", "./runs/a=b", "--device", "cpu", "--out", "g"])[1],
            codes=(0,), may_write=True, needs=("run",)),
        case(3, "missing kind=lstm,seed=0/config.yaml", lambda w: ["train", "kind=lstm,seed=0/config.yaml", *TRAIN]),
        case(3, "missing x=1.yaml", lambda w: ["train", "x=1.yaml", *TRAIN]),
        case(3, "gradcheck of a missing folder kind=rnn", lambda w: ["gradcheck", "kind=rnn"]),
        case(3, "train absolute path with =", lambda w: (
            renamed("t=1")(w), ["train", str(w / "runs" / "t=1" / "config.yaml"), "train.steps=1", *TRAIN])[1],
            codes=(0,), may_write=True, needs=("run",)),
    ]
    return out


# ----------------------------------------------------------------------------- kind 4: files


def corruptions(rng: random.Random) -> dict[str, Callable[[Path], None]]:
    def truncate(p: Path) -> None:
        p.write_bytes(p.read_bytes()[: max(1, p.stat().st_size // 2)])

    def empty(p: Path) -> None:
        p.write_bytes(b"")

    def to_dir(p: Path) -> None:
        p.unlink()
        p.mkdir()

    def to_list(p: Path) -> None:
        p.write_text("[1, 2, 3]\n")

    def to_string(p: Path) -> None:
        p.write_text('"just a string"\n')

    def random_bytes(p: Path) -> None:
        p.write_bytes(bytes(rng.randrange(256) for _ in range(300)))

    def latin1(p: Path) -> None:
        p.write_bytes(p.read_bytes()[:40] + b"\xff\xfe\xe9\n" + p.read_bytes()[40:])

    return {"truncated": truncate, "emptied": empty, "a directory": to_dir, "a JSON list": to_list,
            "a JSON string": to_string, "random bytes": random_bytes, "non-UTF-8 bytes": latin1}


RUN_FILES = {  # file → commands that read it
    "meta.json": [["report", "run"], ["train", "--resume", "run", "--device", "cpu"]],
    "summary.json": [["report", "run"], ["train", "--resume", "run", "--device", "cpu"]],
    "config.yaml": [["report", "run"], ["gradcheck", "run", "--device", "cpu"], ["plot", "run", "--what", "loss"]],
    "metrics.csv": [["plot", "run", "--what", "loss", "--out", "p.png"],
                    ["train", "--resume", "run", "--force", "train.steps=3", "--device", "cpu"]],
    "checkpoint.pt": [["gradcheck", "run", "--device", "cpu"], ["train", "--resume", "run", "--force",
                                                                 "train.steps=3", "--device", "cpu"]],
    "gradients/profiles.csv": [["plot", "run", "--what", "profiles", "--out", "p.png"],
                               ["train", "--resume", "run", "--force", "train.steps=3", "--device", "cpu"]],
    "gradients/gradients.csv": [["plot", "run", "--what", "gradients", "--out", "p.png"]],
    "gradients/summary.csv": [["report", "run"]],
    "gradients/meta.json": [["plot", "run", "--what", "gradients", "--out", "p.png"]],
}


def kind4() -> list[dict[str, Any]]:
    rng = random.Random(4)
    out = []
    for file, commands in RUN_FILES.items():
        for mode, corrupt in corruptions(rng).items():
            if mode in ("a JSON list", "a JSON string") and not file.endswith((".json", ".yaml")):
                continue
            for cmd in commands:
                def setup(w: Path, file=file, corrupt=corrupt, cmd=cmd) -> list[str]:
                    corrupt(w / "run" / file)
                    return list(cmd)
                out.append(case(4, f"{file} {mode}: {' '.join(cmd[:2])}", setup, codes=(0, 1, 2), needs=("run",)))

    def checkpoint_field(field: str, value: str) -> Callable[[Path], list[str]]:
        def setup(w: Path) -> list[str]:
            code = ("import sys, torch; p = sys.argv[1]; c = torch.load(p, weights_only=True); "
                    f"c[{field!r}] = {value}; torch.save(c, p)")
            subprocess.run([sys.executable, "-c", code, str(w / "run" / "checkpoint.pt")],
                           check=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
            return ["train", "--resume", "run", "--force", "train.steps=3", "--device", "cpu"]
        return setup

    for field, value in [("step", "'ten'"), ("model", "[1, 2]"), ("optimizer", "'adam'"), ("rng", "{}"),
                         ("config", "[]"), ("last_eval", "'x'"), ("skipped", "-3"), ("elapsed", "None"),
                         ("format", "'1'")]:
        out.append(case(4, f"checkpoint field {field} = {value}", checkpoint_field(field, value), needs=("run",)))

    for name, text in [("sweep.yaml emptied", ""), ("sweep.yaml a list", "- 1\n"), ("sweep.yaml bad YAML", "name: [\n"),
                       ("sweep.yaml unknown key", "name: s\nbogus: 1\naxes: {seed: [0]}\n"),
                       ("sweep.yaml deep", "a: " + "[" * 3000 + "]" * 3000 + "\n"),
                       ("sweep.yaml random bytes", bytes(random.Random(1).randrange(256) for _ in range(200)))]:
        out.append(case(4, name, lambda w, t=text: (write(w, "sweep/sweep.yaml", t), ["sweep", "sweep"])[1],
                        needs=("sweep",)))
    for name, text in [("expansion.json a list", "[]"), ("expansion.json runs not a list", '{"runs": 5}'),
                       ("expansion.json truncated", '{"runs": [{"id"'), ("expansion.json ids not strings", '{"runs": [{"id": 1}]}')]:
        out.append(case(4, name, lambda w, t=text: (write(w, "sweep/expansion.json", t), ["sweep", "sweep"])[1],
                        needs=("sweep",)))
    out.append(case(4, "sweep.yaml a directory", lambda w: (os.remove(w / "sweep" / "sweep.yaml"),
                                                           (w / "sweep" / "sweep.yaml").mkdir(), ["sweep", "sweep"])[2],
                    needs=("sweep",)))
    # the file system
    out += [
        case(4, "train --out under a regular file", lambda w: (write(w, "f", "x"), ["train", write(w, "c.yaml", TINY),
                                                                                   "--out", "f/sub", "--device", "cpu"])[1]),
        case(4, "train --out is a regular file", lambda w: (write(w, "f", "x"), ["train", write(w, "c.yaml", TINY),
                                                                                "--out", "f", "--device", "cpu"])[1]),
        case(4, "sweep --out under a regular file", lambda w: (write(w, "f", "x"), write(w, "tiny.yaml", TINY), [
            "sweep", write(w, "sw.yaml", "base: tiny.yaml\naxes: {seed: [0]}\n"), "--out", "f/x"])[2]),
        case(4, "gradcheck --out under a regular file", lambda w: (write(w, "f", "x"), [
            "gradcheck", write(w, "c.yaml", TINY), "--out", "f/g", "--device", "cpu"])[1]),
        case(4, "config is a FIFO", lambda w: (os.mkfifo(w / "fifo.yaml"), ["train", "fifo.yaml", *TRAIN])[1]),
        case(4, "config nested 20,000 levels", train_with("a: " + "[" * 20000 + "]" * 20000 + "\n")),
        case(4, "config nested 20,000 block mappings", train_with("".join(" " * i + f"k{i}:\n" for i in range(2000)))),
        case(4, "run config.yaml nested 20,000 levels", lambda w: (
            write(w, "run/config.yaml", "task: " + "{a: " * 20000 + "1" + "}" * 20000 + "\n"),
            ["plot", "run", "--what", "loss", "--out", "p.png"])[1],
            needs=("run",)),
        case(4, "meta.json nested 100,000 levels", lambda w: (
            write(w, "run/meta.json", "[" * 100000 + "]" * 100000), ["train", "--resume", "run"])[1], needs=("run",)),
        case(4, "train --out on a read-only file system", lambda w: (
            mount(w, "ro", "size=1m,ro"), ["train", write(w, "c.yaml", TINY), "--out", "ro/out", "--device", "cpu"])[1],
            needs=("mount",)),
        case(4, "sweep --out on a read-only file system", lambda w: (
            mount(w, "ro", "size=1m,ro"), write(w, "tiny.yaml", TINY),
            ["sweep", write(w, "sw.yaml", "base: tiny.yaml\naxes: {seed: [0]}\n"), "--out", "ro/out"])[2],
            needs=("mount",)),
        case(4, "resume a run on a read-only file system", lambda w: _ro_run(w, ["train", "--resume", "rorun/run",
                                                                                "--force", "train.steps=4"]),
             needs=("run",)),
        case(4, "gradcheck a run on a read-only file system", lambda w: _ro_run(w, ["gradcheck", "rorun/run"]),
             needs=("run",)),
        case(4, "disk full while training", lambda w: (
            mount(w, "full", "size=64k"), ["train", write(w, "c.yaml", TINY), "train.steps=400", "train.eval_every=1",
                                           "model.hidden=16", "--out", "full/out", "--device", "cpu"])[1],
            codes=(1,), may_write=True),
        case(4, "disk full before training", lambda w: (
            mount(w, "full", "size=4k"), (w / "full" / "pad").write_bytes(b"x" * 4096),
            ["train", write(w, "c.yaml", TINY), "--out", "full/out", "--device", "cpu"])[2],
            codes=(1, 2), may_write=True),
        case(4, "report of a folder holding only a directory named config.yaml", lambda w: (
            (w / "r" / "config.yaml").mkdir(parents=True), ["report", "r"])[1]),
    ]
    return out


def _ro_run(w: Path, args: list[str]) -> list[str]:
    where = mount(w, "rorun", "size=4m")
    shutil.copytree(w / "run", where / "run")
    remount_ro(where)
    return args


# ----------------------------------------------------------------------------- kind 5: values


def kind5() -> list[dict[str, Any]]:
    out = []
    for i, text in enumerate([
            TINY + "task: {name: copy}\n",
            "model: {kind: grid, hidden: 4, hidden: 8}\n",
            "task:\n  name: adding\n  length: 5\n  length: 6\n",
            "seed: 1\nseed: 1\n",
            "train:\n  lr: 0.1\ntrain:\n  lr: 0.2\n",
            "model: {kind: rnn}\nname: a\nname: b\n"]):
        out.append(case(5, f"duplicate key in a config #{i + 1}", train_with(text)))
    for i, text in enumerate([
            "base: tiny.yaml\naxes: {seed: [0]}\naxes: {seed: [1]}\n",
            "base: tiny.yaml\naxes:\n  seed: [0, 1]\n  seed: [2]\n",
            "base: tiny.yaml\nconfig: {train.lr: 0.1, train.lr: 0.2}\naxes: {seed: [0]}\n"]):
        out.append(case(5, f"duplicate key in a sweep file #{i + 1}", sweep_with(text, "--dry-run")))
    for key in FLOAT_KEYS:
        for bad in [".nan", ".inf", "-.inf", "nan", "inf", "NaN"]:
            if key == "train.clip_norm" and bad in ("-.inf",):
                continue
            out.append(case(5, f"{key}={bad}", train_with(TINY, f"{key}={bad}")))
        out.append(case(5, f"{key}: .nan in the file", train_with(TINY.replace("train: {", f"train: {{{key.split('.')[1]}: .nan, ")
                                                                   if key.startswith("train") else
                                                                   TINY + "model: {kind: grid, hidden: 4, layers: 1, forget_bias: .NaN}\n"
                                                                   .replace("model: {kind: grid, hidden: 4, layers: 1}\n", ""))))
    for key in INT_KEYS + ["train.lr", "model.forget_bias", "train.target", "task.keys"]:
        out.append(case(5, f"{key}=true", train_with(TINY, f"{key}=true")))
    out.append(case(5, "gradients.at_steps=[0, false]", train_with(TINY, "gradients.at_steps=[0, false]")))
    out.append(case(5, "sweep axis of booleans for model.hidden", sweep_with(
        "base: tiny.yaml\naxes: {model.hidden: [true, false]}\n", "--dry-run")))
    out.append(case(5, "sweep axis with NaN lr", sweep_with("base: tiny.yaml\naxes: {train.lr: [.nan, 0.1]}\n", "--dry-run")))
    out += [
        case(5, "--name ''", train_with(TINY, "--name", "")),
        case(5, "--name '   '", train_with(TINY, "--name", "   ")),
        case(5, "--resume RUN --out X", lambda w: ["train", "--resume", "run", "--out", "x"], needs=("run",)),
        case(5, "--resume RUN --name y", lambda w: ["train", "--resume", "run", "--name", "y"], needs=("run",)),
        case(5, "--force without --resume", train_with(TINY, "--force")),
    ]
    base = "base: tiny.yaml\naxes: {seed: [0]}\n"
    for opts in [["--address", "auto"], ["--num-cpus", "0"], ["--num-cpus", "-1"], ["--num-cpus", "nan"],
                 ["--num-cpus", "2"], ["--num-gpus", "1"], ["--num-gpus", "-1", "--executor", "ray"],
                 ["--executor", "ray", "--num-cpus", "0"], ["--executor", "ray", "--num-cpus", "inf"],
                 ["--executor", "ray", "--address", "auto", "--jobs", "2"], ["--jobs", "0"],
                 ["--executor", "ray", "--num-gpus", "nan"]]:
        out.append(case(5, f"sweep {' '.join(opts)}", sweep_with(base, *opts)))
    out.append(case(5, "sweep name ''", sweep_with("name: ''\n" + base)))
    out.append(case(5, "config name '' in the file", train_with(TINY + "name: ''\n")))
    out.append(case(5, "gradcheck --seeds 0", lambda w: ["gradcheck", write(w, "c.yaml", TINY), "--seeds", "0"]))
    return out


def all_cases() -> list[dict[str, Any]]:
    cases = kind2() + kind3() + kind4() + kind5()
    for c in cases:
        if "mount" in c.get("needs", ()) or "mount" in json.dumps(c["name"]):
            c["needs"] = tuple(n for n in c.get("needs", ()) if n != "mount")
    return cases
