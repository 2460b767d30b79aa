"""The README's shell examples run as a new user runs them: in order, from a fresh clone of the
committed tree, with the installed ``gridlstm`` on PATH, each from the clone's root; every one exits 0
and afterwards ``git status`` in the clone is clean (each writes under the ignored ``outputs/``, none
into a tracked file such as docs/*.png, none into a place another example reads by a glob).

What runs: every fenced ```bash block (and the ``$ `` lines of a ```console block) of README.md, top
to bottom, each block as one bash script under ``set -e -o pipefail`` (a loop stays one command). The
marker convention: a block whose line above is an HTML comment starting ``<!-- not run by
tests/test_readme_examples.py:`` (invisible on the rendered page, followed by the reason) is not run;
today those are the blocks of ``make`` targets, which set up their own .venv.

The commands run as written, except for the additions in EXTRA below, appended to the one README line
that starts with the key: KEY=VALUE overrides the command accepts anyway, which keep its meaning and
only make the measurement small. The test reads the clone's README, so it checks what is committed.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIP_MARK = "<!-- not run by tests/test_readme_examples.py:"
# the README's study measures 5 models x D in {4, 16, 64} x 3 seeds at T = 20, H = 32; here at T = 5, H = 8
EXTRA = {"gridlstm study depth": "task.length=5 model.hidden=8"}
BIN = Path(sys.executable).parent


def shell_blocks(readme: str) -> list[str]:
    """The scripts of the README's runnable shell blocks, in order (the marker rule of the docstring)."""
    blocks, lines = [], readme.splitlines()
    i = 0
    while i < len(lines):
        fence = re.fullmatch(r"```(bash|console)\s*", lines[i])
        if not fence:
            i += 1
            continue
        end = lines.index("```", i + 1)
        body = lines[i + 1:end]
        if fence.group(1) == "console":
            body = [line[2:] for line in body if line.startswith("$ ")]
        if not (i > 0 and lines[i - 1].startswith(SKIP_MARK)):
            blocks.append("\n".join(body))
        i = end + 1
    return blocks


def with_extra(script: str) -> str:
    """``script`` with EXTRA's words inserted (before any trailing comment) into the line each names."""
    out = script.splitlines()
    for prefix, words in EXTRA.items():
        hits = [n for n, line in enumerate(out) if line.startswith(prefix)]
        assert len(hits) <= 1, f"{prefix!r} starts {len(hits)} README lines; EXTRA means one"
        for n in hits:
            command, hash_, comment = out[n].partition(" #")
            out[n] = f"{command.rstrip()} {words}  {hash_}{comment}".rstrip()
    return "\n".join(out)


def test_the_extraction_finds_the_blocks_and_honours_the_marker():
    readme = "\n".join([
        "```bash", "gridlstm configs", "```",
        SKIP_MARK + " needs make -->", "```bash", "make test", "```",
        "```console", "$ gridlstm report x", "a printed line", "```",
        "```python", "print(1)", "```",
    ])
    assert shell_blocks(readme) == ["gridlstm configs", "gridlstm report x"]
    assert with_extra("gridlstm study depth --out o    # claim 2") == \
        "gridlstm study depth --out o task.length=5 model.hidden=8   # claim 2"


def test_the_readme_runs_only_gridlstm_and_marks_the_rest():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    runnable = shell_blocks(readme)
    for block in runnable:  # make and pip set up environments of their own: those blocks carry the marker
        assert not re.search(r"^\s*(make|pip) ", block, flags=re.M), block
    assert all("gridlstm " in block for block in runnable)
    assert readme.count(SKIP_MARK) == len(re.findall(r"^```(?:bash|console)\s*$", readme, flags=re.M)) - len(runnable)


@pytest.mark.slow
def test_the_readme_examples_run_in_order_from_a_clean_clone(tmp_path):
    top = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--show-toplevel"], capture_output=True,
                         text=True) if shutil.which("git") else None
    if top is None or top.returncode != 0 or Path(top.stdout.strip()).resolve() != ROOT:
        pytest.skip("not a git checkout of its own (an unpacked sdist): nothing to clone")
    if not (BIN / "gridlstm").exists():
        pytest.skip(f"no gridlstm installed beside {sys.executable}")
    clone = tmp_path / "clone"
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", head], check=True)
    blocks = shell_blocks((clone / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 6, "the README shows its examples in ```bash blocks"
    assert any(line.startswith(tuple(EXTRA)) for b in blocks for line in b.splitlines()), \
        "an EXTRA key no longer starts a README line"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "OMP_NUM_THREADS": "1",
           "COLUMNS": "100"}
    for block in blocks:
        script = with_extra(block)
        result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=clone, env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"README example failed:\n{script}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=clone,
                            capture_output=True, text=True, check=True).stdout
    assert status == "", f"the README's examples left files git sees:\n{status}"
    assert list((clone / "outputs").iterdir()) != [clone / "outputs" / ".gitkeep"]  # they did write runs
