"""docs/config.md and docs/cli.md are what `make docs` makes from the schema and the commands now."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from gridlstm.config import Config, valid_keys

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("make_docs", ROOT / "scripts" / "make_docs.py")
make_docs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_docs)


@pytest.mark.parametrize("page", ["config.md", "cli.md"])
def test_the_generated_page_is_current(page):
    path = ROOT / "docs" / page
    assert path.read_text(encoding="utf-8") == make_docs.pages()[path], f"docs/{page} is stale: run make docs"


def _default(key: str):
    node = Config()
    for part in key.split("."):
        node = getattr(node, part)
    return node


def test_the_config_reference_has_one_row_per_key_with_its_default():
    keys_table = make_docs.config_reference().split("## Limits", 1)[0]
    rows = [line for line in keys_table.splitlines() if line.startswith("| `")]
    keys = [row.split("`")[1] for row in rows]
    assert keys == valid_keys()
    for key, row in zip(keys, rows, strict=True):
        default = _default(key)
        shown = "null" if default is None else str(default).lower().replace("'", "")
        assert row.split(" | ")[1] == f"`{shown}`", (key, row)


def test_the_config_reference_states_the_limits():
    from gridlstm import limits

    text = make_docs.config_reference()
    assert f"| `{limits.ENV}` (environment) | `{limits.DEFAULT_GB:g}` |" in text
    assert f"{limits.MAX_SWEEP_RUNS:,} runs" in text


def test_the_cli_reference_holds_every_command_and_its_options():
    import click

    from gridlstm.cli.main import cli

    text = make_docs.cli_reference()
    ctx = click.Context(cli, info_name="gridlstm")
    for name in cli.list_commands(ctx):
        cmd = cli.get_command(ctx, name)
        assert f"## `gridlstm {name}`" in text
        for param in cmd.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--"):
                    assert opt in text, (name, opt)


def test_a_changed_page_is_reported_stale(tmp_path, monkeypatch):
    page = tmp_path / "config.md"
    page.write_text(make_docs.config_reference() + "a hand edit\n", encoding="utf-8")
    monkeypatch.setattr(make_docs, "pages", lambda: {page: make_docs.config_reference()})
    assert make_docs.stale() == [page]
    assert make_docs.main(["--check"]) == 1
    assert make_docs.main([]) == 0 and make_docs.stale() == []
