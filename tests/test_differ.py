"""gridlstm/results/differ.py: which config keys differ between runs, and the labels built from them."""
from __future__ import annotations

from pathlib import Path

from gridlstm.config import dump_config, load_config
from gridlstm.results.differ import (
    differing_keys,
    flatten,
    labels,
    shared_items,
    short_names,
    value_text,
)
from gridlstm.runs.run import RunFolder


def test_flatten_keeps_lists_as_values():
    assert flatten({"train": {"lr": 0.1, "sub": {"x": 1}}, "seed": 0, "at": [0, 5]}) == {
        "train.lr": 0.1, "train.sub.x": 1, "seed": 0, "at": [0, 5]}


def test_differing_and_shared_keys_by_hand():
    a = {"seed": 0, "train.lr": 0.1, "model.kind": "rnn"}
    b = {"seed": 1, "train.lr": 0.1, "model.kind": "rnn", "model.extra": 3}  # a key one run lacks differs
    c = {"seed": 0, "train.lr": 0.1, "model.kind": "rnn"}
    assert differing_keys([a, b, c]) == ["seed", "model.extra"]  # in the order of the first that has them
    assert shared_items([a, b, c]) == {"train.lr": 0.1, "model.kind": "rnn"}
    assert differing_keys([a]) == [] and shared_items([]) == {}
    assert differing_keys([{"x": 1}, {"x": 1.0}]) == ["x"]  # 1 and 1.0 are written differently


def test_short_names_keep_the_whole_key_where_two_end_alike():
    assert short_names(["train.lr", "seed", "model.hidden", "task.hidden"]) == {
        "train.lr": "lr", "seed": "seed", "model.hidden": "model.hidden", "task.hidden": "task.hidden"}


def test_value_text_by_hand():
    assert [value_text(v) for v in (None, True, False, 0.0012345, 3, "rnn", [0, 0.5, True])] == [
        "—", "true", "false", "0.001234", "3", "rnn", "[0,0.5,true]"]


def _run(root: Path, name: str, *overrides: str) -> RunFolder:
    path = root / "g" / name
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(dump_config(load_config(None, list(overrides))))
    return RunFolder.read(path)


def test_labels_name_what_differs_and_fall_back_to_the_run_id(tmp_path):
    a = _run(tmp_path, "a", "train.lr=0.01", "seed=1")
    b = _run(tmp_path, "b", "train.lr=0.003", "seed=1")
    c = _run(tmp_path, "c", "train.lr=0.003", "seed=1")  # the same config as b
    assert labels([a, b]) == ["lr=0.01", "lr=0.003"]
    assert labels([a, b, c]) == ["lr=0.01", "lr=0.003 (g/b)", "lr=0.003 (g/c)"]
    assert labels([b, c]) == ["g/b", "g/c"]  # nothing differs: the ids
