"""Every example in every command's --help is a command that works as written: each parses (its
options, choices and argument counts are real), and those of train and sweep, run with --dry-run,
validate their whole config (files, names, groups, keys and values) from a folder without configs/.
Examples that read a run folder, a sweep folder or a server (placeholders such as
outputs/default/20250101-120000-ab12) are checked as far as parsing goes."""
from __future__ import annotations

import shlex

import click
import pytest
from click.testing import CliRunner

from gridlstm.cli.main import cli

CTX = click.Context(cli)


def commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    out = []
    for name in group.list_commands(CTX):
        cmd = group.get_command(CTX, name)
        if isinstance(cmd, click.Group):
            out += commands(cmd, (*prefix, name))
        else:
            out.append(((*prefix, name), cmd))
    return out


def examples_in_help_order() -> list[str]:
    """Every ``gridlstm ...`` line of every Example block (comments dropped), command by command in
    the group's order and each command's examples in the order its help shows them."""
    found: list[str] = []
    for path, _ in [((), cli), *commands(cli)]:
        text = CliRunner().invoke(cli, [*path, "--help"]).output
        block = text.split("Example", 1)[1] if "Example" in text else ""
        found += [line.split("#")[0].strip() for line in block.splitlines() if line.strip().startswith("gridlstm ")]
    return list(dict.fromkeys(found))


def examples() -> list[str]:
    return sorted(examples_in_help_order())


EXAMPLES = examples()
PLACEHOLDER = ("outputs/", "--resume", "http://", "--address")


def test_there_are_examples_of_every_command():
    named = {" ".join(shlex.split(e)[1:3]) for e in EXAMPLES}
    for path, _ in commands(cli):
        assert any(n.startswith(" ".join(path)) for n in named), path


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_example_parses(example, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    words = shlex.split(example)[1:]
    for w in words:  # a placeholder run or sweep folder stands for one that exists
        if w.startswith("outputs/") and "*" not in w:
            (tmp_path / w).mkdir(parents=True, exist_ok=True)
    cmd: click.Command = cli
    while isinstance(cmd, click.Group):
        name, *words = words
        cmd = cmd.get_command(CTX, name)
        assert cmd is not None, f"{example}: no command {name}"
    ctx = cmd.make_context(name, list(words))  # raises on an unknown option, a bad choice or value
    assert ctx.params is not None


@pytest.mark.parametrize("example", [e for e in EXAMPLES if shlex.split(e)[1] in ("train", "sweep")
                                     and not any(p in e for p in PLACEHOLDER)])
def test_the_example_validates_with_dry_run(example, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # shipped configs are found from anywhere
    words = [w for w in shlex.split(example)[1:] if w != "--dry-run"]
    result = CliRunner().invoke(cli, [*words, "--dry-run"])
    assert result.exit_code == 0, f"{example}: {result.output}"
    assert list(tmp_path.iterdir()) == []  # a dry run writes nothing
