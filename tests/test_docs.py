"""The README stays true: the two commands first, every config key documented with its default."""
from __future__ import annotations

from pathlib import Path

import pytest

from gridlstm.config import Config, valid_keys

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
REFERENCE = README.split("## Config reference", 1)[1].split("\n## ", 1)[0]


def test_two_commands_come_first():
    first_block = README.split("```")[1]
    assert "make run" in first_block and "make test" in first_block


def _default(key: str):
    node = Config()
    for part in key.split("."):
        node = getattr(node, part)
    return node


@pytest.mark.parametrize("key", valid_keys())
def test_every_config_key_is_documented_with_its_default(key):
    rows = [line for line in REFERENCE.splitlines() if line.startswith(f"| `{key}` |")]
    assert rows, f"README config reference lacks {key}"
    default = _default(key)
    shown = "null" if default is None else str(default).lower()
    assert f"`{shown}" in rows[0].split("|")[2].lower(), f"{key}: README default does not say {shown}"
