"""The README's training outcomes are the ones docs/results.md (made by `make results`) reports."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
PAGE = (ROOT / "docs" / "results.md").read_text()
SECTION = README.split("## And after training", 1)[1].split("\n## ", 1)[0]


def test_every_solved_claim_in_the_readme_is_on_the_results_page():
    claims = re.findall(r"solved at (\d+K) samples", SECTION)
    assert len(claims) >= 4
    for n in claims:
        assert f"yes, at {n} samples" in PAGE, n


def test_the_unsolved_numbers_in_the_readme_are_on_the_results_page():
    assert "accuracy 0.682" in PAGE and "68 % recall after 640K" in SECTION
    assert "accuracy 0.918" in PAGE and "91.8 % of sums after 960K" in SECTION
    assert "accuracy 0.4912" in PAGE and "chance (0.49) after 192K" in SECTION
    assert "mse 0.1676" in PAGE and "(MSE 0.168) after 150K" in SECTION
    before_after = re.search(r"\| parity_depth-1 \|.*\| (\S+) → (\S+) \|", PAGE)
    assert before_after and f"{float(before_after[1]):.1f} decades" in SECTION


def test_every_figure_the_page_shows_is_in_the_repository():
    for ref in re.findall(r"\]\((results/[^)]+\.png)\)", PAGE):
        assert (ROOT / "docs" / ref).is_file(), ref
    verdicts = re.findall(r"\*\*(as published|not as published|no difference at this scale)\*\*", PAGE)
    assert len(verdicts) == 5
