"""Shell completion for CONFIG/RUN arguments and dotted keys (click's shell_complete hook)."""
from __future__ import annotations

import glob
import os

import click
from click.shell_completion import CompletionItem

from gridlstm import compose
from gridlstm.config import valid_keys


def complete_args(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """``model.hid`` → ``model.hidden=``; ``model=`` → its options; else YAML files and folders."""
    key, sep, value = incomplete.partition("=")
    if sep and key in compose.GROUPS:
        return [CompletionItem(f"{key}={o}") for o in compose.options(key) if o.startswith(value)]
    if sep:
        return []
    items = [CompletionItem(f"{k}=") for k in (*compose.GROUPS, *valid_keys()) if k.startswith(incomplete)]
    for path in sorted(glob.glob(glob.escape(incomplete) + "*")):
        if os.path.isdir(path):
            items.append(CompletionItem(path + "/"))
        elif path.endswith((".yaml", ".yml")):
            items.append(CompletionItem(path))
    return items
