"""A YAML loader for configs and sweep files that cannot be made to hang, eat memory or lie.

``yaml.safe_load`` already refuses Python tags; on top of that ``StrictLoader`` refuses

- aliases (``*name``): an alias bomb ("billion laughs") expands to gigabytes from a few lines;
  a config is short enough to write its values out;
- a key given twice in one mapping (plain YAML keeps the last one without a word);
- nesting deeper than ``MAX_DEPTH`` (a config is three levels deep; 20,000 levels overflow the
  Python stack);
- integers with more digits than Python will convert.

Every refusal is a ``yaml.YAMLError`` with a mark (line and column), so callers report it like a
syntax error. ``MAX_BYTES`` bounds what is read at all. ``read_yaml`` reads a file with it and turns
every way that can fail into a one-line ``ConfigError``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

from .errors import ConfigError

MAX_DEPTH = 32
MAX_BYTES = 1_000_000
MAX_INT_DIGITS = 100


class StrictLoader(yaml.SafeLoader):
    """SafeLoader without aliases, duplicate keys, deep nesting or giant integers."""

    def __init__(self, stream: Any):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"alias *{event.anchor} is not allowed (write the values out; "
                "aliases can expand without bound)", event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # unhashable: SafeLoader reports it below
                    continue
                if first is not None:
                    raise ConstructorError(None, None, f"duplicate key {_short(key)} (first given on "
                                           f"line {first + 1}); give each key once",
                                           key_node.start_mark)
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: Any) -> int:
        digits = sum(c.isdigit() for c in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise ConstructorError(None, None, f"integer with {digits} digits is too large",
                                   node.start_mark)
        return super().construct_yaml_int(node)


StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_yaml_int)


def _short(value: Any, width: int = 40) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int too long to print
        text = f"<{type(value).__name__}>"
    return text if len(text) <= width else text[: width - 3] + "..."


def load(text: str) -> Any:
    """Parse one YAML document with ``StrictLoader``; raises ``yaml.YAMLError`` on any refusal."""
    loader = StrictLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


class NoAliasDumper(yaml.SafeDumper):
    """SafeDumper that writes a value shared by two places twice: what it writes StrictLoader reads."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def read_yaml(path: Path, what: str = "config") -> dict[str, Any]:
    """The YAML mapping in ``path``; every way this can fail becomes a one-line ConfigError."""
    try:
        if not path.exists():
            raise ConfigError([f"{what} file not found: {path}"])
        if path.is_dir():
            raise ConfigError([f"{what} path is a directory, not a YAML file: {path}"])
        if not path.is_file():  # a FIFO or a device: reading could wait forever
            raise ConfigError([f"{what} path is not a regular file (a pipe or device): {path}; "
                               "write the YAML to a file"])
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise ConfigError([f"cannot read {what} {path}: {e.strerror or e}"]) from None
    if len(raw) > MAX_BYTES:
        raise ConfigError([f"{what} file {path} is larger than {MAX_BYTES // 1000} kB; "
                           "is it the right file?"])
    try:
        data = load(raw.decode())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        tag = re.search(r"tag '([^']*)'", problem) if isinstance(e, yaml.constructor.ConstructorError) else None
        if tag:  # safe_load refuses !!python/... and other custom tags
            problem = f"tag {tag.group(1).replace('tag:yaml.org,2002:', '!!')} is not allowed (plain YAML only)"
        raise ConfigError([f"{path}{where}: YAML syntax error: {problem[:200]}"]) from None
    except UnicodeDecodeError as e:
        raise ConfigError([f"cannot read {what} {path}: not UTF-8 text (byte {e.object[e.start]:#04x} "
                           f"at offset {e.start})"]) from None
    except (ValueError, RecursionError) as e:  # e.g. a number that Python will not convert
        raise ConfigError([f"{path}: cannot parse: {str(e)[:120] or type(e).__name__}"]) from None
    if data is None:
        raise ConfigError([f"{what} file is empty: {path}"])
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: top level must be a mapping of keys, got {type(data).__name__}"])
    return data
