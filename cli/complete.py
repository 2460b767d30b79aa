"""Shell completion (click's shell_complete hook) for CONFIG/RUN arguments, dotted keys and their values.

A Tab must answer at once, but the config schema imports torch (the cell registry declares the kinds):
the keys and their choices are read from a small cache, ``$XDG_CACHE_HOME/gridlstm/keys-<stamp>.json``,
written by the first completion after gridlstm changes (``stamp`` follows the package's version and its
files), so only that one Tab pays for the import.

bash splits ``model.kind=`` at the ``=`` (COMP_WORDBREAKS): the word being completed is then the
value, after the words ``model.kind`` and ``=``; zsh and fish keep ``model.kind=`` as one word.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
from pathlib import Path
from typing import Any, get_args, get_origin

import click
from click.shell_completion import BashComplete, CompletionItem, add_completion_class

import gridlstm
from gridlstm import compose

CACHE_ENV = "XDG_CACHE_HOME"


def cache_file() -> Path:
    """Where the keys are cached: a name that changes whenever a file of the package changes."""
    package = Path(gridlstm.__file__).parent
    stamp = hashlib.sha1(gridlstm.__version__.encode())
    for folder in (package, package / "nn"):
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.name.endswith(".py"):
                st = entry.stat()
                stamp.update(f"{entry.name}:{st.st_mtime_ns}:{st.st_size}".encode())
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache")
    return root / "gridlstm" / f"keys-{stamp.hexdigest()[:16]}.json"


def choices_of(annotation: Any) -> list[str]:
    """The values a field accepts, as typed on a command line: a Literal's, or true/false."""
    if annotation is bool:
        return ["true", "false"]
    if get_origin(annotation) is not None and str(get_origin(annotation)).endswith("Literal"):
        return [str(a).lower() if isinstance(a, bool) else str(a) for a in get_args(annotation)]
    return []


def schema_keys() -> dict[str, list[str]]:
    """Every dotted key of the config schema and its choices ([] for a free value); imports torch."""
    from pydantic import BaseModel

    from gridlstm.config import Config

    out: dict[str, list[str]] = {}

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            ann = field.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann, f"{prefix}{name}.")
            else:  # a free-form field may still name its usual values (model.kind: the registered kinds)
                extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
                out[prefix + name] = choices_of(ann) or [str(c) for c in extra.get("choices", [])]

    walk(Config, "")
    return out


def keys() -> dict[str, list[str]]:
    """The schema's keys and choices, from the cache (made, if missing, from the schema itself)."""
    path = cache_file()
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        pass
    found = schema_keys()  # imports torch: runs/folder's atomic writer costs nothing more here
    from gridlstm.runs.folder import atomic_write_text

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(found))
    except OSError:  # a read-only home: complete anyway, only slower
        pass
    return found


def values(key: str, prefix: str) -> list[str]:
    """What may follow ``key=``: a group's options, or the key's choices."""
    found = compose.options(key) if key in compose.GROUPS else keys().get(key, [])
    return [v for v in found if v.startswith(prefix)]


def previous_words(ctx: click.Context) -> list[str]:
    """The words typed before the one being completed (click parsed them into ctx.params)."""
    words: list[str] = []
    for value in (ctx.params if ctx is not None else {}).values():
        if isinstance(value, (tuple, list)):
            words += [str(v) for v in value]
    return words


def complete_args(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """``model.hid`` → ``model.hidden=``; ``model=`` → its options; ``model.kind=`` → the kinds;
    else shipped config names, YAML files and folders (run folders)."""
    key, sep, value = incomplete.partition("=")
    if sep:  # zsh, fish: the whole word
        return [CompletionItem(f"{key}={v}") for v in values(key.strip(), value)]
    before = previous_words(ctx)
    if len(before) >= 2 and before[-1] == "=":  # bash: the value alone, after KEY and '='
        return [CompletionItem(v) for v in values(before[-2], incomplete)]
    if incomplete == "=" and before:
        return [CompletionItem(v) for v in values(before[-1], "")]
    items = [CompletionItem(f"{k}=") for k in (*compose.GROUPS, *keys()) if k.startswith(incomplete)]
    return items + complete_paths(ctx, param, incomplete)


def complete_paths(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Shipped config names (``adding_rnn``, ``sweeps/adding_length``), YAML files and folders."""
    items = [CompletionItem(n) for n in compose.config_names() if n.startswith(incomplete)]
    for path in sorted(glob.glob(glob.escape(os.path.expanduser(incomplete)) + "*")):
        if os.path.isdir(path):
            items.append(CompletionItem(path + "/"))
        elif path.endswith((".yaml", ".yml")):
            items.append(CompletionItem(path))
    return items


class BashCompletion(BashComplete):
    """click's bash script, but a completed ``KEY=`` or ``folder/`` gets no space after it, so the
    value or the next path part can follow at once."""

    source_template = BashComplete.source_template.replace(
        "            COMPREPLY+=($value)\n",
        "            COMPREPLY+=($value)\n"
        "            [[ $value == *= || $value == */ ]] && compopt -o nospace\n")


add_completion_class(BashCompletion, "bash")  # click's documented hook for a shell's script
