"""docs/results.md (made by `make results`, or regenerated from a study folder with --page-only)
is a page of the shipped results file: every comparison is either shown with a verdict over its
seeds or said plainly not to be run yet; every figure it shows is in the repository; it names no
path of the machine that made it."""
from __future__ import annotations

import re
from pathlib import Path

from gridlstm.results.verdict import WORDS
from gridlstm.studies.results import DEFAULT_RESULTS, load_results_spec

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "docs" / "results.md").read_text()


def test_every_comparison_is_shown_with_a_verdict_or_said_not_to_be_run():
    for comp in load_results_spec(DEFAULT_RESULTS).comparisons:
        shown = f"## {comp.title}" in PAGE
        pending = re.search(rf"\| {re.escape(comp.title)} \| not yet run over seeds", PAGE)
        assert shown != bool(pending), comp.name
        if shown:
            section = PAGE.split(f"## {comp.title}", 1)[1].split("\n## ", 1)[0]
            verdict = re.search(r"\*\*Verdict: ([^*]+)\.\*\*", section)
            assert verdict and verdict[1] in WORDS, comp.name
            assert f"--only {comp.name}`" in section


def test_every_figure_the_page_shows_is_in_the_repository():
    for ref in re.findall(r"\]\((results/[^)]+\.png)\)", PAGE):
        assert (ROOT / "docs" / ref).is_file(), ref


def test_the_page_names_no_machine_path():
    assert not re.search(r"(/tmp/|/home/|/work/|/root/|[A-Z]:\\)", PAGE)
    assert "0.0 min" not in PAGE
