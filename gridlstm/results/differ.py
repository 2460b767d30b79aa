"""What differs between runs: the one rule that ``report`` (columns) and ``plot`` (legend labels) use.

Each run's config.yaml is flattened to dotted keys (``train.lr``, ``model.layers``); a key whose
value is not the same in every selected run *differs* (a key one run lacks differs too), the others
are *shared*.  A run's label is its differing keys as ``key=value``, with short key names (the last
part, unless two differing keys end the same), e.g. ``lr=0.01 seed=2``.
"""
from __future__ import annotations

from typing import Any

from gridlstm.nn import registry
from gridlstm.runs.run import RunFolder

MISSING = None


def flatten(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"lr": 0.1}} -> {"train.lr": 0.1}; lists stay values."""
    flat: dict[str, Any] = {}
    for k, v in node.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(flatten(v, key + "."))
        else:
            flat[key] = v
    return flat


def run_id(run: RunFolder) -> str:
    """The run's short name in tables and legends: its folder and the folder's parent."""
    return f"{run.path.parent.name}/{run.path.name}"


def run_label(run: RunFolder) -> str:
    """A run's label on its own, e.g. ``grid memory_input D=2 T=100``, ``rnn D=1 T=200``."""
    m = run.config_data()["model"]
    return f"{registry.describe(m)} D={m['layers']} T={run.length}"


def model_labels(runs: list[RunFolder]) -> list[str]:
    """Each run by its model (``grid paper tied``), with ``D=`` and ``T=`` only where the runs differ
    in them (a panel of one depth and one length does not repeat both); a run alone in full."""
    if len(runs) == 1:
        return [run_label(runs[0])]
    models = [r.config_data()["model"] for r in runs]
    depths, lengths = {m["layers"] for m in models}, {r.length for r in runs}
    return [" ".join([registry.describe(m), *([f"D={m['layers']}"] if len(depths) > 1 else []),
                      *([f"T={r.length}"] if len(lengths) > 1 else [])]) for m, r in zip(models, runs, strict=True)]


def configs(runs: list[RunFolder]) -> list[dict[str, Any]]:
    return [flatten(r.config_data()) for r in runs]


def inapplicable(kind: Any, variant: Any) -> set[str]:
    """The model.* keys a run of ``kind`` (and ``variant``) does not read: the options of other
    cells (an LSTM's ``model.variant``, a grid's ``model.nonlinearity``); none for a cell this
    installation cannot load."""
    cell = registry.known_class({"kind": kind, "variant": variant})
    if cell is None:
        return set()
    options = {k for c in registry.registered() for k in c.options}
    drop = {f"model.{k}" for k in options if k not in cell.options}
    if not registry.variants(str(kind)):
        drop.add("model.variant")
    return drop


def applicable(flat: dict[str, Any]) -> dict[str, Any]:
    """Without the keys the run's cell does not read: they would tell two runs apart by a value
    neither of them uses."""
    drop = inapplicable(flat.get("model.kind"), flat.get("model.variant"))
    return {k: v for k, v in flat.items() if k not in drop}


def differing_keys(flat: list[dict[str, Any]]) -> list[str]:
    """Config keys whose values are not all equal, in the order of the first config that has them."""
    keys = list(dict.fromkeys(k for c in flat for k in c))
    return [k for k in keys if len({repr(c.get(k, MISSING)) for c in flat}) > 1]


def shared_items(flat: list[dict[str, Any]]) -> dict[str, Any]:
    """The keys every config holds with one value (nothing when there are no configs)."""
    if not flat:
        return {}
    differ = set(differing_keys(flat))
    return {k: v for k, v in flat[0].items() if k not in differ}


def short_names(keys: list[str]) -> dict[str, str]:
    """Dotted key -> its last part, or the whole key where two keys share a last part."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last, strict=True)}


def value_text(v: Any) -> str:
    if v is MISSING:
        return "—"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(value_text(x) for x in v) + "]"
    return str(v)


# keys that change no curve of a figure (what is recorded and where it is logged, how often): never
# a legend's; ``name`` only where nothing else differs
NOT_IN_LABELS = ("gradients.", "tracking.", "train.log_every", "train.checkpoint_every", "name")


def applies(run: RunFolder, key: str) -> bool:
    """Whether ``run``'s cell reads ``key`` (an LSTM has no model.variant; non-model keys always)."""
    model = run.config_data().get("model", {})
    return key not in inapplicable(model.get("kind"), model.get("variant"))


def labels(runs: list[RunFolder]) -> list[str]:
    """One distinct label per run: its differing config keys (``lr=0.01 seed=2``), each only where
    the run's model has that option, bookkeeping keys left out; the run's id where nothing differs or
    two runs share a config."""
    flat = configs(runs)
    every = differing_keys(flat)
    keys = [k for k in every if not k.startswith(NOT_IN_LABELS)] or [k for k in every if k == "name"]
    names = short_names(keys)
    out = [" ".join(f"{names[k]}={value_text(c.get(k, MISSING))}" for k in keys if applies(run, k))
           for c, run in zip(flat, runs, strict=True)]
    repeated = {x for x in out if out.count(x) > 1}
    return [x if x and x not in repeated else f"{x} ({run_id(run)})".strip() if x else run_id(run)
            for x, run in zip(out, runs, strict=True)]
