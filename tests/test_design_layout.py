"""docs/design.md's code layout names every subpackage and module of gridlstm/, and nothing that is gone."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gridlstm"


def _layout() -> str:
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    section = text.split("## 4. Code layout", 1)[1].split("\n## ", 1)[0]
    return section.split("```", 2)[1]


def _tree() -> set[str]:
    """'nn/' for a subpackage (a real folder with __init__.py), 'config.py' for a module."""
    subpackages = {f"{p.name}/" for p in PACKAGE.iterdir()
                   if p.is_dir() and not p.is_symlink() and (p / "__init__.py").is_file()}
    modules = {p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    return subpackages | modules


def _named(layout: str) -> set[str]:
    """The entries of the layout block indented under ``gridlstm/`` (two spaces, then the name)."""
    block = layout.split("gridlstm/\n", 1)[1]
    return set(re.findall(r"^  ([a-z_]+(?:/|\.py))", block, flags=re.M))


def test_the_layout_names_every_subpackage_and_module():
    missing = _tree() - _named(_layout())
    assert not missing, f"docs/design.md §4 lacks {sorted(missing)}: add a line for each"


def test_the_layout_names_nothing_that_is_not_there():
    gone = _named(_layout()) - _tree()
    assert not gone, f"docs/design.md §4 names {sorted(gone)}, which gridlstm/ no longer has"


def test_the_reader_sees_a_missing_entry():
    assert _named("gridlstm/\n  nn/   cells\n  config.py  configs\ncli/  commands\n") == {"nn/", "config.py"}
    assert "tasks.py" in _tree() and "nn/" in _tree() and "cli/" not in _tree()
