"""The docs stay true: the two commands first, every link resolves, every shipped file shown
verbatim, and every quoted message or transcript is what the code prints."""
from __future__ import annotations

import re
import shlex
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from gridlstm.runs.records import Summary

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
RELIABILITY = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_two_commands_come_first():
    first_block = README.split("```")[1]
    assert "make run" in first_block and "make test" in first_block


def test_the_readme_is_a_short_guide():
    assert len(README.splitlines()) <= 250


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    text = page.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" not in target:
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"


# ----------------------------------------------------------------------------- shipped files

def _blocks(lang: str, text: str) -> list[tuple[str, str]]:
    """(the text before the block, the block) for every ```lang block of ``text``."""
    parts = re.split(r"^```(\w*)\n(.*?)^```\n", text, flags=re.M | re.S)
    return [(parts[i - 1], parts[i + 1]) for i in range(1, len(parts) - 1, 3) if parts[i] == lang]


def test_every_yaml_block_is_a_shipped_file_verbatim():
    blocks = [b for page in PAGES for b in _blocks("yaml", page.read_text(encoding="utf-8"))]
    assert blocks, "the docs show a sweep file"
    for before, text in blocks:
        lines = before.strip().splitlines()
        names = re.findall(r"`(configs/[\w/.-]+\.yaml)`", lines[-1]) if lines else []
        assert names, f"the line above a YAML block names the file it shows:\n{text[:200]}"
        assert text == (ROOT / names[-1]).read_text(), f"the docs' copy of {names[-1]} differs from the file"


# ----------------------------------------------------------------------------- quoted messages


def summary(nothing_to_do: bool = False, **fields) -> Summary:
    """A Summary with ``fields`` set (the others None), as summary.json of an older run reads."""
    return replace(Summary.from_json(fields), nothing_to_do=nothing_to_do)


def test_the_run_endings_quoted_in_the_readme_are_the_ones_train_prints():
    from gridlstm.cli.display import ending

    quoted = re.search(r"how the run ended \(`([^`]*)`, `([^`]*)`,\s+`([^`]*)`\)", README)
    assert quoted, "README (Train) quotes how a run ends"
    done, early, stopped = (" ".join(q.split()).replace("N", "7") for q in quoted.groups())
    assert ending(summary(status="completed", steps=7, solved=False), 7) == done
    assert ending(summary(status="completed", steps=7, solved=True), 1000) == early
    assert ending(summary(status="interrupted", steps=7), 1000) == stopped


def test_the_quoted_start_up_stop_message_is_the_real_one():
    from gridlstm.errors import StoppedBeforeStart

    quoted = " ".join(re.search(r"a signal then says `([^`]*)`", RELIABILITY).group(1).split())  # unwrapped
    assert quoted == str(StoppedBeforeStart("SIGTERM"))


RUN_DIR = re.compile(r"\S*default/\d{8}-\d{6}-[0-9a-f]{4}")


def _transcripts() -> list[tuple[str, list[str]]]:
    """Each ``$ gridlstm ...`` line of a plain ``` block and the lines printed after it."""
    out = []
    for _, block in _blocks("", RELIABILITY):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, *printed = chunk.rstrip("\n").split("\n")
            out.append((command, [line for line in printed if line != "^C"]))
    return out


def _run(args: list[str]) -> str:
    from gridlstm.cli.main import cli

    return CliRunner().invoke(cli, args).output


def _same(printed: list[str], output: str) -> None:
    """The page's lines appear, in order and together, among the lines the command printed."""
    def norm(lines):
        return [RUN_DIR.sub("RUN", line).rstrip() for line in lines]
    want, got = norm(printed), norm(output.splitlines())
    assert any(got[i:i + len(want)] == want for i in range(len(got))), f"{want}\nnot in\n{got}"


@pytest.mark.slow  # two short trainings, about a minute on 2 busy cores
def test_every_transcript_in_the_reliability_page_is_what_the_command_prints(tmp_path):
    """The ``$ gridlstm ...`` examples of docs/reliability.md: run for real where that is quick,
    else the message built by the code that prints it, with the page's numbers."""
    from gridlstm.cli.main import outcome

    transcripts = _transcripts()
    assert len(transcripts) == 5, [c for c, _ in transcripts]
    tiny = None
    for command, printed in transcripts:
        args = shlex.split(command)[1:]
        if "model.hiden=3" in args:  # config mistakes: real, and no folder is made
            _same(printed, _run(args))
        elif "train.lr=1000" in args:  # divergence: real (a few steps)
            _same(printed, _run([*args, "--out", str(tmp_path / "diverged")]))
        elif "train.steps=600" in args:  # Ctrl-C: the line outcome() prints for that summary
            steps = int(re.search(r"after step (\d+)", printed[0]).group(1))
            line, code = outcome(summary(run_dir=RUN_DIR.search(printed[0]).group(0), status="interrupted",
                                         signal="SIGINT", steps=steps, checkpoint_step=steps))
            assert (line, code) == (printed[0], 130)
        elif args[:2] == ["train", "--resume"] and len(args) == 3:  # resume a completed run
            line, _ = outcome(summary(run_dir=args[2], nothing_to_do=True, steps=600, status="completed"))
            assert line == printed[0]
        elif args[:2] == ["train", "--resume"]:  # a changed config: real, on a tiny completed run
            tiny = tiny or _run(["train", "configs/default.yaml", "train.steps=2", "train.eval_batches=1",
                                 "--out", str(tmp_path / "tiny")]).rstrip().splitlines()[-1].split()[-1]
            _same(printed, _run(["train", "--resume", tiny, *args[3:]]))
        else:
            raise AssertionError(f"docs/reliability.md transcript without a check here: $ {command}")
