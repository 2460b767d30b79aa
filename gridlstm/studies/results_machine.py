"""What the results page says about where and how its runs were made: the machine kind (from the
runs' own meta.json, not the machine that writes the page), paths relative to the output root or
the repository, and each model's initialisation and input path in words."""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Optional

from gridlstm.config import Config
from gridlstm.errors import GridlstmError
from gridlstm.runs.records import REPO_ROOT
from gridlstm.runs.run import RunFolder


def machine(folder: Path) -> str:
    """'Linux x86_64, torch 2.13.0, device cpu, 1 torch thread per run' from the runs'
    meta.json (the most common values; several are listed when runs differ)."""
    seen: dict[str, Counter] = {k: Counter() for k in ("platform", "torch", "device", "torch_threads")}
    for run in sorted((folder / "runs").glob("*")):
        if not RunFolder(run).meta_file.is_file():
            continue
        try:
            m = RunFolder(run).meta_data()
        except GridlstmError:  # a damaged record says nothing about the machine
            continue
        seen["platform"][str(m.get("platform", "?")).split("-")[0] + " " + _arch(m)] += 1
        seen["torch"][str(m.get("torch", "?"))] += 1
        seen["device"][str(m.get("device", "?"))] += 1
        seen["torch_threads"][str(m.get("torch_threads", "?"))] += 1
    if not seen["torch"]:
        return "no finished runs"

    def top(k: str) -> str:
        return " or ".join(v for v, _ in seen[k].most_common(2))

    return (f"{top('platform')}, torch {top('torch')}, device {top('device')}, "
            f"{top('torch_threads')} torch thread(s) per run")


def _arch(meta: dict) -> str:
    plat = str(meta.get("platform", ""))
    return next((a for a in ("x86_64", "aarch64", "arm64") if a in plat), "")


def relative(path: Path, root: Optional[Path] = None) -> str:
    """``path`` relative to ``root`` (the output root), else to the repository, else its name."""
    path = Path(path).resolve()
    for base in ([Path(root).resolve()] if root is not None else []) + [REPO_ROOT.resolve(), Path.cwd().resolve()]:
        try:
            return str(path.relative_to(base))
        except ValueError:
            continue
    return path.name


def describe_init(cfg: Config) -> str:
    """'Glorot-uniform, x straight into the cell' / 'U(±1/√H), x through P (H×I)'."""
    m = cfg.model
    init = {"default": "U(±1/√H)", "orthogonal": "orthogonal recurrent blocks",
            "identity": "identity recurrence (IRNN)", "glorot": "Glorot-uniform"}[m.init]
    path = "x straight into the cell" if not m.input_projection else "x through a projection to H"
    t = cfg.train
    opt = f"{t.optimizer} lr {t.lr:g}" + (f", decay {t.rmsprop_alpha:g}" if t.optimizer == "rmsprop" else "")
    clip = f"clip by value {t.clip_value:g}" if t.clip_value else ""
    clip += (", " if clip and t.clip_norm else "") + (f"clip norm {t.clip_norm:g}" if t.clip_norm else "")
    return f"{init}, {path}; {opt}; {clip or 'no clipping'}"


def paper_status(out_root: Path, paper: Path) -> str:
    """Whether the paper-scale study (``paper``, a results file) has been run under ``out_root``:
    the newest study folder of that name, its finished runs and where they ran."""
    from gridlstm.safe_yaml import read_yaml

    name = str(read_yaml(paper, "results").get("name", paper.stem))
    folders = sorted(p for p in (Path(out_root) / "studies" / name).glob("*") if (p / "results.yaml").is_file())
    label = f"Paper scale (`{relative(paper)}`)"
    if not folders:
        return f"{label}: not run (no study of it under the output root)."
    newest = folders[-1]
    done = [p for p in (newest / "runs").glob("*") if RunFolder(p).summary_file.is_file()]
    where = machine(newest) if done else "nothing finished yet"
    return (f"{label}: {len(done)} run(s) finished in `{relative(newest, out_root)}` ({where}); its page is "
            f"`{relative(newest / 'results.md', out_root)}`.")
