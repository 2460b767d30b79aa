"""Typed, frozen run configuration: YAML file + dotted ``key=value`` overrides → ``Config``.

Every problem in a config is collected and reported at once as a ``ConfigError`` (one line per
problem, naming the key and the allowed values); nothing is written before a config validates.
"""
from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Optional, Union, get_args

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import compose, limits, safe_yaml, tasks
from .errors import ConfigError
from .nn import registry
from .nn.schedule import SCHEDULES
from .safe_yaml import read_yaml

DEFAULT_CONFIG = compose.CONFIG_DIR / "default.yaml"


INT64 = limits.INT64


def _numeric(annotation: Any) -> bool:
    """int, float, Optional[int], list[int], ...: a field that holds numbers."""
    return annotation in (int, float) or any(_numeric(a) for a in get_args(annotation))


class _Section(BaseModel):
    # NaN and ±inf are refused in every float field: a NaN forget bias or target only shows up later
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bools_for_numbers(cls, v: Any, info: Any) -> Any:
        """YAML ``true`` is not the number 1: a boolean is accepted only where one is expected."""
        if _numeric(cls.model_fields[info.field_name].annotation) and (
                isinstance(v, bool) or (isinstance(v, list) and any(isinstance(x, bool) for x in v))):
            raise ValueError(f"expected {'numbers' if isinstance(v, list) else 'a number'}, "
                             "not true/false")
        return v

    def _non_default(self, key: str) -> bool:
        """True when ``key`` was given explicitly with a value other than its default."""
        return key in self.model_fields_set and getattr(self, key) != type(self).model_fields[key].default


class TaskConfig(_Section):
    name: Literal[tuple(tasks.TASKS)] = Field(  # type: ignore[valid-type]
        "adding", description="the task (docs/models.md, Tasks)")
    length: int = Field(50, ge=2, le=100_000, description="T: sequence length / copy delay / parity bits"
                        " / addition digits k / memorize symbols n")
    mode: Literal["sequence", "whole"] = Field("sequence", description="parity only")
    keys: Literal[2, 3] = Field(2, description="temporal_order only")
    vocab: int = Field(64, ge=2, le=4096, description="memorize only: symbols to draw from")
    eval_seed: int = Field(1234, ge=-INT64 - 1, le=INT64, description="seed of the fixed held-out set (same for every run)")

    @model_validator(mode="after")
    def _applicable(self) -> TaskConfig:
        problems = [f"task.{key} applies only to task.name {'|'.join(names)}"
                    for key, names in tasks.settings().items() if self._non_default(key) and self.name not in names]
        shortest = tasks.task_class(self.name).min_length  # the tasks' own rules (tasks.py)
        if self.length < shortest:
            problems.append(f"task.length must be >= {shortest} for {self.name} (got {self.length})")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class _ModelFields(_Section):
    """The fields of every cell; ModelConfig adds each registered cell's options (nn/registry.py)."""

    kind: str = Field("grid", description="the cell: a registered kind, or package.module:ClassName",
                      json_schema_extra={"choices": list(registry.kinds())})  # for completion and docs
    hidden: int = Field(32, ge=1, le=8192, description="H: the width of every state")
    layers: int = Field(2, ge=1, le=256, description="D: depth of the stack / grid")
    variant: Literal[registry.VARIANTS] = Field(registry.DEFAULT_VARIANT, description="grid only")  # type: ignore[valid-type]
    tied: bool = Field(False, description="share one weight set across layers (Tied 2-LSTM)")
    input_projection: bool = Field(True, description="false: no projection P, the task's input enters the "
                                   "first cell directly (its input width = the task's, as in Arjovsky, Shah "
                                   "& Bengio 2016); one layer of a cell that reads a raw input only")

    @field_validator("kind")
    @classmethod
    def _registered(cls, v: str) -> str:
        problem = registry.check_kind(v)
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("variant", mode="before")
    @classmethod
    def _renamed(cls, v: Any) -> Any:
        return registry.current_variant(v, warn=True) if isinstance(v, str) else v

    @model_validator(mode="after")
    def _applicable(self) -> _ModelFields:
        given = {k for k in self.model_fields_set if self._non_default(k)}
        problems = registry.option_problems(self.kind, self.variant, self.model_dump(), given)
        raw = [k for k in registry.kinds() if registry.known_raw_input(k)]
        if not self.input_projection and (self.layers != 1 or not registry.known_raw_input(self.kind)):
            problems.append(f"model.input_projection false needs model.layers 1 and model.kind {'|'.join(raw)} "
                            f"(got {self.kind}, {self.layers} layers): deeper cells read H-wide inputs")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    if TYPE_CHECKING:  # the generated option fields (model.forget_bias, ...)
        def __getattr__(self, name: str) -> Any: ...


def _cell_option_fields() -> dict[str, Any]:
    return {name: (f.annotation, Field(f.default, ge=f.ge, le=f.le, description=f.description or None))
            for name, f in registry.config_options().items()}


if TYPE_CHECKING:
    ModelConfig = _ModelFields
else:
    ModelConfig = pydantic.create_model(
        "ModelConfig", __base__=_ModelFields, __module__=__name__, **_cell_option_fields(),
        schedule=(Literal[SCHEDULES], Field("auto", description="loop order over (t, d); auto: layerwise "
                                            "unless gradients are probed (then wavefront)")))


class TrainConfig(_Section):
    steps: int = Field(1000, ge=1, le=INT64, description="training steps (one batch each)")
    batch_size: int = Field(32, ge=1, le=INT64)
    optimizer: Literal["adam", "rmsprop", "sgd"] = Field("adam", description="sgd has momentum 0.9")
    lr: float = Field(1e-3, gt=0, le=1e3)
    clip_norm: float = Field(1.0, ge=0, description="max global gradient norm; 0 disables clipping")
    clip_value: float = Field(0.0, ge=0, description="clip every gradient element to ±clip_value before "
                              "the norm clip (Arjovsky, Shah & Bengio 2016 clip element-wise at 1, their "
                              "code); 0 disables")
    rmsprop_alpha: float = Field(0.99, gt=0, lt=1, description="RMSProp's decay of the squared-gradient "
                                 "average (torch's default 0.99; Arjovsky et al. 2016 use 0.9); "
                                 "optimizer rmsprop only")
    train_set: Optional[int] = Field(None, ge=1, le=INT64, description="a fixed training set of this many "
                                     "sequences, sampled once from the seed and iterated in epochs (each "
                                     "epoch in a fresh order); null = a fresh sample every step "
                                     "(Arjovsky et al. 2016 train on a fixed 1e5)")
    eval_every: int = Field(100, ge=1, le=INT64, description="held-out eval (and checkpoint) every N steps")
    eval_batches: int = Field(32, ge=1, le=INT64, description="held-out set size in batches of batch_size")
    log_every: int = Field(10, ge=1, le=INT64, description="a train row in metrics.csv every N steps")
    target: Optional[float] = Field(None, description="success threshold; null = the task's default")
    early_stop: bool = Field(True, description="stop when the held-out metric reaches the target")
    checkpoint_every: Optional[int] = Field(None, ge=1, le=INT64, description="steps between checkpoints; "
                                            "null = at every eval (an interrupt always writes one)")
    on_nan: Literal["stop", "skip"] = Field("stop", description="a NaN/Inf loss or gradient: stop the "
                                            "run as diverged, or skip that batch's update")
    skip_limit: int = Field(10, ge=1, le=INT64, description="on_nan skip: this many skipped steps in a row "
                            "count as diverged (the weights themselves went bad)")
    threads: Union[Literal["auto"], int] = Field(
        "auto", description="torch CPU threads: auto (from the problem size and the cores this process may "
        "use; gridlstm/threads.py) or a number; OMP_NUM_THREADS in the environment wins")

    @field_validator("threads", mode="before")
    @classmethod
    def _threads(cls, v: Any) -> Any:
        if v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1024):
            return v
        raise ValueError("expected auto or a number of threads from 1 to 1024")

    @model_validator(mode="after")
    def _applicable(self) -> TrainConfig:
        if self._non_default("rmsprop_alpha") and self.optimizer != "rmsprop":
            raise ValueError("train.rmsprop_alpha applies only to train.optimizer rmsprop")
        return self


class GradientsConfig(_Section):
    """Gradient-norm profiles recorded into the run folder while training (gridlstm/probe/gradients.py)."""

    at_steps: list[int] = Field([0], description="training steps at which to record a profile "
                                "(0 = before the first update) into gradients/profiles.csv")
    at_end: bool = Field(True, description="also record at the step training stops")
    batch_size: Optional[int] = Field(None, ge=1, le=INT64, description="examples per profile; null = train.batch_size")
    seeds: int = Field(1, ge=1, le=100, description="profiles (batches) per recorded step")

    @field_validator("at_steps")
    @classmethod
    def _non_negative(cls, v: list[int]) -> list[int]:
        if any(s < 0 for s in v):
            raise ValueError(f"steps must be >= 0 (got {_short(v)})")
        return sorted(set(v))


class TrackingConfig(_Section):
    """Where runs are also logged (gridlstm/tracking.py); changes nothing that is computed."""

    uri: Optional[str] = Field(None, description="MLflow tracking URI (http://..., sqlite:///...); "
                               "null = no tracking; needs pip install '.[mlflow]'")
    experiment: Optional[str] = Field(None, description="MLflow experiment; null = the run name")
    tensorboard: Optional[str] = Field(None, description="TensorBoard log folder (each run logs to "
                                       "DIR/<name>/<run folder>); null = none; needs pip install '.[tensorboard]'")


class Config(_Section):
    name: Optional[str] = Field(None, description="run group folder; null = <task>-<model kind>")
    seed: int = Field(0, ge=-INT64 - 1, le=INT64, description="model init and training data stream")
    task: TaskConfig = TaskConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    gradients: GradientsConfig = GradientsConfig()
    tracking: TrackingConfig = TrackingConfig()

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", v):
            raise ValueError("must be letters, digits, '.', '_' or '-' (a folder name)")
        return v

    @model_validator(mode="after")
    def _profiles_within_training(self) -> Config:
        late = [s for s in self.gradients.at_steps if s > self.train.steps]
        if late:
            raise ValueError(f"gradients.at_steps {_short(late)} lie after train.steps = {self.train.steps}: "
                             "they would never be recorded")
        return self  # the memory budget is checked where work starts (limits.require), not here

    @property
    def run_name(self) -> str:
        return self.name or f"{self.task.name}-{registry.cell_class(self.model.kind, self.model.variant).kind}"

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


# names other tools use for a key of ours (PyTorch, Keras, Lightning, Hydra examples): did-you-mean
ALIASES = {"learning_rate": "train.lr", "lr": "train.lr", "epochs": "train.steps", "max_steps": "train.steps",
           "iterations": "train.steps", "hidden_size": "model.hidden", "num_layers": "model.layers",
           "n_layers": "model.layers", "depth": "model.layers", "batch": "train.batch_size",
           "seq_len": "task.length", "sequence_length": "task.length", "T": "task.length",
           "cell": "model.kind", "optim": "train.optimizer", "grad_clip": "train.clip_norm"}


def suggest(key: str) -> str:
    alias = ALIASES.get(key.rsplit(".", 1)[-1])
    if alias is not None and alias != key:
        return f" (did you mean {alias}?)"
    sections = [name for name, f in Config.model_fields.items()
                if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)]
    close = difflib.get_close_matches(key, valid_keys() + sections, n=1, cutoff=0.6)
    if not close:  # a leaf name under the wrong section, e.g. "hidden" for "model.hidden"
        close = [k for k in valid_keys() if k.rsplit(".", 1)[-1] == key.rsplit(".", 1)[-1]][:1]
    return f" (did you mean {close[0]}?)" if close else ""


def _key(loc: tuple[Any, ...]) -> str:
    """Dotted key for a message; odd keys (empty, control characters, non-strings) shown quoted."""
    text = ".".join(str(p) for p in loc)
    plain = all(isinstance(p, str) and p and p.isprintable() for p in loc)
    return text if plain or not loc else _short(text)


def _format_error(err: Any) -> list[str]:
    """One pydantic error → one line per problem (cross-field rules may report several)."""
    loc = _key(tuple(err["loc"]))
    if err["type"] == "extra_forbidden":
        return [f"unknown key {loc}{suggest(loc)}"]
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "value_error" and (not loc or isinstance(err.get("input"), dict)):
        # a section's cross-field rules: the message names its keys, "; " between problems
        return msg.split("; ")
    got = err.get("input")
    shown = "" if isinstance(got, (dict, list, set, tuple)) else f" (got {_short(got)})"
    return [f"{loc or 'config'}: {msg}{shown}"]


_short = safe_yaml._short  # a bounded repr: never the whole of a big value


def parse_value(raw: str) -> Any:
    """An override's value as a YAML scalar (or list); text that is not YAML stays text."""
    if not raw.strip():
        return None
    try:
        return safe_yaml.load(raw)
    except (yaml.YAMLError, ValueError, RecursionError):
        return raw


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``data["a"]["b"] = value`` for ``key = "a.b"``, creating (and copying) the sections it needs."""
    *parents, leaf = key.split(".")
    node = data
    for p in parents:
        node[p] = dict(node[p]) if isinstance(node.get(p), dict) else {}
        node = node[p]
    node[leaf] = value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Apply ``a.b=value`` pairs (values parsed as YAML scalars) to a copy of ``data``."""
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    problems = []
    keys = valid_keys()
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(f"override {_short(item)} is not key=value (e.g. model.hidden=128)")
            continue
        if key not in keys and any(k.startswith(key + ".") for k in keys):
            problems.append(f"override {_short(item)} sets the whole section {key}: set one key of it, "
                            f"e.g. {next(k for k in keys if k.startswith(key + '.'))}=...")
            continue
        if key not in keys:
            problems.append(f"unknown key {_key((key,))} in override {_short(item)}{suggest(key)}")
            continue
        set_dotted(data, key, parse_value(raw))
    return data, problems


def build_config(data: dict[str, Any], problems: Optional[list[str]] = None) -> Config:
    problems = list(problems or [])
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        problems += [line for err in e.errors() for line in _format_error(err)]
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return cfg


def load_config(path: Optional[Path] = None, overrides: tuple[str, ...] | list[str] = ()) -> Config:
    """Read ``path`` (default: configs/default.yaml), apply groups (``model=grid``) then overrides, validate; ConfigError on failure."""
    picks, overrides = compose.split_selections(list(overrides))
    try:
        data = compose.apply_groups(read_yaml(compose.find_config(path) if path is not None else DEFAULT_CONFIG), picks)
    except ConfigError as e:  # still report the overrides' own problems in the same block
        _, override_problems = apply_overrides({}, list(overrides))
        raise ConfigError(e.problems + override_problems) from None
    data, problems = apply_overrides(data, list(overrides))
    return build_config(data, problems)


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"hidden": 8}}`` → ``{"model.hidden": 8}``."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``key: old -> new`` for every dotted key whose value differs (missing keys show as absent).
    Both sides are read through the schema first, so a key or a section missing on one side (a
    config saved before it existed) reads as today's default, and a former variant name as today's:
    a run saved by an older gridlstm resumes as it is. If either side is not a valid config, both are
    compared as written."""
    sides = [{**d, "model": registry.upgrade_model(d.get("model") or {})} for d in (old, new)]
    try:
        sides = [Config.model_validate(d).to_dict() for d in sides]
    except ValidationError:
        pass
    a, b = (flatten(d) for d in sides)
    return [f"{k}: {a.get(k, 'absent')} -> {b.get(k, 'absent')}"
            for k in sorted(set(a) | set(b)) if a.get(k, "absent") != b.get(k, "absent")]


def dump_config(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
