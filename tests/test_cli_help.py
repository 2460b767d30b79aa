"""Every command documents itself with an example (sqlite-utils' rule): the group and each command,
including commands added later, since the list is read from the group itself."""
from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from gridlstm.cli.main import cli

CTX = click.Context(cli)
COMMANDS = cli.list_commands(CTX)  # lazily loaded commands included


def test_the_documented_commands_are_registered():
    assert {"train", "gradcheck", "plot", "report", "sweep"} <= set(COMMANDS)
    assert all(isinstance(cli.get_command(CTX, name), click.Command) for name in COMMANDS)


def test_group_help_lists_every_command_and_has_an_example():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "Example" in result.output
    for name in COMMANDS:
        assert f"  {name} " in result.output, name


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_help_has_an_example_that_runs_that_command(name):
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"gridlstm {name} --help has no Example block"
    example = result.output.split("Example", 1)[1]
    assert f"gridlstm {name}" in example, f"the example of gridlstm {name} does not run it"
    assert (cli.get_command(CTX, name).help or "").strip(), f"gridlstm {name} has no help text"
