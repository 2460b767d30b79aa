"""gridlstm/results/differ.py: which config keys differ between runs, and the labels built from them."""
from __future__ import annotations

from pathlib import Path

from gridlstm.config import dump_config, load_config
from gridlstm.results.differ import (
    differing_keys,
    flatten,
    labels,
    run_id,
    run_label,
    shared_items,
    short_names,
    value_text,
)
from gridlstm.runs.records import Meta
from gridlstm.runs.run import NOT_TRAINED, RunFolder


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


def test_a_run_alone_is_labelled_by_its_model_and_named_by_its_folder(tmp_path):
    lstm = _run(tmp_path, "a", "model.kind=lstm", "model.layers=3", "task.length=50")
    grid = _run(tmp_path, "b", "model.kind=grid", "model.variant=memory_input", "model.tied=true", "model.layers=2")
    assert (run_id(lstm), run_label(lstm)) == ("g/a", "lstm D=3 T=50")
    assert run_label(grid).startswith("grid memory_input tied D=2 T=")
    assert (lstm.task, lstm.length, lstm.kind, lstm.trained) == ("adding", 50, "lstm", False)


def test_a_folder_reads_its_files_once_until_it_writes_its_meta(tmp_path):
    run = _run(tmp_path, "a", "task.length=7")
    assert run.length == 7 and run.meta_data() == {"status": NOT_TRAINED}
    run.config_file.write_text(dump_config(load_config(None, ["task.length=9"])))
    assert run.length == 7                          # read once: plots and reports ask many times
    assert RunFolder.read(run.path).length == 9     # another reader of the folder reads it anew
    meta = {"argv": [], "status": "running", "checkpoint_step": 0}
    run.write_meta(Meta.from_json(meta))
    assert run.meta_data()["status"] == "running" and run.length == 9  # writing forgets what was read
    assert run == RunFolder(run.path) and len({run, RunFolder(run.path)}) == 1  # one folder, by its path
