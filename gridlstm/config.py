"""Typed, frozen run configuration: YAML file + dotted ``key=value`` overrides → ``Config``.

Every problem in a config is collected and reported at once as a ``ConfigError`` (one line per
problem, naming the key and the allowed values); nothing is written before a config validates.
"""
from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def _non_default(self, key: str) -> bool:
        """True when ``key`` was given explicitly with a value other than its default."""
        return key in self.model_fields_set and getattr(self, key) != type(self).model_fields[key].default


class TaskConfig(_Section):
    name: Literal["adding", "copy", "parity", "temporal_order"] = "adding"
    length: int = Field(50, ge=2, le=100_000, description="T: sequence length / copy delay / parity bits")
    mode: Literal["sequence", "whole"] = Field("sequence", description="parity only")
    keys: Literal[2, 3] = Field(2, description="temporal_order only")
    eval_seed: int = Field(1234, description="seed of the fixed held-out set (same for every run)")

    @model_validator(mode="after")
    def _applicable(self) -> "TaskConfig":
        problems = []
        if self._non_default("mode") and self.name != "parity":
            problems.append("task.mode applies only to task.name parity")
        if self._non_default("keys") and self.name != "temporal_order":
            problems.append("task.keys applies only to task.name temporal_order")
        if self.name == "temporal_order" and self.length < 10:
            problems.append(f"task.length must be >= 10 for temporal_order (got {self.length})")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class ModelConfig(_Section):
    kind: Literal["rnn", "lstm", "grid"] = "grid"
    hidden: int = Field(32, ge=1, le=8192)
    layers: int = Field(2, ge=1, le=256, description="D: depth of the stack / grid")
    variant: Literal["seed", "paper"] = Field("seed", description="grid only")
    tied: bool = Field(False, description="share one weight set across layers (Tied 2-LSTM)")
    priority: Literal["none", "depth"] = Field("none", description="grid paper only")
    output: Literal["standard", "paper"] = Field("standard", description="grid paper only")
    nonlinearity: Literal["tanh", "relu"] = Field("tanh", description="rnn only")
    init: Literal["default", "orthogonal", "identity"] = Field("default", description="identity: rnn only")
    forget_bias: float = Field(1.0, description="lstm and grid only")
    schedule: Literal["wavefront", "naive"] = Field("wavefront", description="loop order over (t, d)")

    @model_validator(mode="after")
    def _applicable(self) -> "ModelConfig":
        problems = []
        if self.kind != "grid":
            problems += [f"model.{k} applies only to model.kind grid" for k in ("variant",) if self._non_default(k)]
        if not (self.kind == "grid" and self.variant == "paper"):
            problems += [f"model.{k} applies only to model.kind grid with model.variant paper"
                         for k in ("priority", "output") if self._non_default(k)]
        if self.kind != "rnn" and self._non_default("nonlinearity"):
            problems.append("model.nonlinearity applies only to model.kind rnn")
        if self.kind != "rnn" and self.init == "identity":
            problems.append("model.init identity applies only to model.kind rnn (use default|orthogonal)")
        if self.kind == "rnn" and self._non_default("forget_bias"):
            problems.append("model.forget_bias applies only to model.kind lstm|grid")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class TrainConfig(_Section):
    steps: int = Field(1000, ge=1)
    batch_size: int = Field(32, ge=1)
    optimizer: Literal["adam", "rmsprop", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0, le=1e3)
    clip_norm: float = Field(1.0, ge=0, description="max global gradient norm; 0 disables clipping")
    eval_every: int = Field(100, ge=1)
    eval_batches: int = Field(4, ge=1)
    log_every: int = Field(10, ge=1)
    target: Optional[float] = Field(None, description="success threshold; null = the task's default")
    early_stop: bool = Field(True, description="stop when the held-out metric reaches the target")


class Config(_Section):
    name: Optional[str] = Field(None, description="run group folder; null = <task>-<model kind>")
    seed: int = 0
    task: TaskConfig = TaskConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", v):
            raise ValueError("must be letters, digits, '.', '_' or '-' (a folder name)")
        return v

    @property
    def run_name(self) -> str:
        return self.name or f"{self.task.name}-{self.model.kind}"

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


# ----------------------------------------------------------------------------- loading


def valid_keys(model: type[BaseModel] = Config, prefix: str = "") -> list[str]:
    """Every dotted key the schema accepts, e.g. ``model.hidden``."""
    keys = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys += valid_keys(ann, f"{prefix}{name}.")
        else:
            keys.append(prefix + name)
    return keys


def _suggest(key: str) -> str:
    close = difflib.get_close_matches(key, valid_keys(), n=1, cutoff=0.6)
    if not close:  # a leaf name under the wrong section, e.g. "hidden" for "model.hidden"
        close = [k for k in valid_keys() if k.rsplit(".", 1)[-1] == key.rsplit(".", 1)[-1]][:1]
    return f" (did you mean {close[0]}?)" if close else ""


def _format_error(err: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"unknown key {loc}{_suggest(loc)}"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "value_error":  # cross-field rules: the message names its keys
        return msg
    got = err.get("input")
    shown = "" if isinstance(got, (dict, list)) else f" (got {got!r})"
    return f"{loc or 'config'}: {msg}{shown}"


def read_yaml(path: Path) -> dict[str, Any]:
    """The YAML mapping in ``path``; every way this can fail becomes a one-line ConfigError."""
    if not path.exists():
        raise ConfigError([f"config file not found: {path}"])
    if path.is_dir():
        raise ConfigError([f"config path is a directory, not a YAML file: {path}"])
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError([f"{path}{where}: YAML syntax error: {problem}"]) from None
    except (UnicodeDecodeError, OSError) as e:
        raise ConfigError([f"cannot read config {path}: {e}"]) from None
    if data is None:
        raise ConfigError([f"config file is empty: {path}"])
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: top level must be a mapping of keys, got {type(data).__name__}"])
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Apply ``a.b=value`` pairs (values parsed as YAML scalars) to a copy of ``data``."""
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    problems = []
    keys = valid_keys()
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(f"override {item!r} is not key=value (e.g. model.hidden=128)")
            continue
        if key not in keys:
            problems.append(f"unknown key {key} in override {item!r}{_suggest(key)}")
            continue
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        *parents, leaf = key.split(".")
        node = data
        for p in parents:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        node[leaf] = value
    return data, problems


def build_config(data: dict[str, Any], problems: Optional[list[str]] = None) -> Config:
    problems = list(problems or [])
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        problems += [_format_error(err) for err in e.errors()]
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return cfg


def load_config(path: Optional[Path] = None, overrides: tuple[str, ...] | list[str] = ()) -> Config:
    """Read ``path`` (default: configs/default.yaml), apply overrides, validate; ConfigError on failure."""
    data = read_yaml(Path(path) if path is not None else DEFAULT_CONFIG)
    data, problems = apply_overrides(data, list(overrides))
    return build_config(data, problems)


def dump_config(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
