"""Bad input → one short block, one line per problem, exit code 2, no traceback, no run folder.

The table below is the one in docs/reliability.md ("Config mistakes"); each case is a config file
(YAML text, or a missing path / a folder) plus command-line arguments, with the problems expected.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridlstm.cli.main import cli
from gridlstm.config import Config, load_config, valid_keys
from gridlstm.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
GOOD = "task: {name: adding, length: 8}\nmodel: {kind: grid, hidden: 4, layers: 1}\ntrain: {steps: 2}\n"
MISSING, FOLDER = object(), object()

# (id, config file text | MISSING | FOLDER, extra arguments, expected substrings: one per problem line)
CASES = [
    ("yaml-syntax", "model: {hidden: 8\ntrain: {}\n", [], ["cfg.yaml:2:6: YAML syntax error: expected ',' or '}', but got ':'"]),
    ("yaml-nested-colon", "model:\n  kind: grid: lstm\n", [], ["cfg.yaml:2:13: YAML syntax error"]),
    ("yaml-tab", "model:\n\thidden: 8\n", [], ["cfg.yaml:2:1: YAML syntax error"]),
    ("python-tag", 'model: !!python/object/apply:os.system ["echo hi"]\n', [],
     ["cfg.yaml:1:8: YAML syntax error: tag !!python/object/apply:os.system is not allowed (plain YAML only)"]),
    ("missing-file", MISSING, [], ["config file not found"]),
    ("empty-file", "", [], ["config file is empty"]),
    ("directory", FOLDER, [], ["config path is a directory"]),
    ("top-level-list", "- 1\n- 2\n", [], ["top level must be a mapping"]),
    ("not-utf8", b"model: {hidden: \xff\xfe}\n", [], ["cfg.yaml: not UTF-8 text (byte 0xff at offset 16)"]),
    ("unknown-section", GOOD + "modle: {hidden: 8}\n", [], ["unknown key modle (did you mean model?)"]),
    ("unknown-nested", "model: {hiden: 8}\n", [], ["unknown key model.hiden (did you mean model.hidden?)"]),
    ("unknown-override", GOOD, ["train.lrr=0.1"], ["unknown key train.lrr in override 'train.lrr=0.1' (did you mean train.lr?)"]),
    ("leaf-without-section", GOOD, ["hidden=8"], ["unknown key hidden in override 'hidden=8' (did you mean model.hidden?)"]),
    ("override-no-equals", GOOD, ["model.hidden"], ["override 'model.hidden' is not key=value"]),
    ("override-empty-key", GOOD, ["=5"], ["override '=5' is not key=value"]),
    ("hidden-zero", GOOD, ["model.hidden=0"], ["model.hidden: Input should be greater than or equal to 1"]),
    ("hidden-negative", GOOD, ["model.hidden=-3"], ["model.hidden: Input should be greater than or equal to 1"]),
    ("length-one", GOOD, ["task.length=1"], ["task.length: Input should be greater than or equal to 2"]),
    ("lr-zero", GOOD, ["train.lr=0"], ["train.lr: Input should be greater than 0"]),
    ("lr-negative", GOOD, ["train.lr=-0.01"], ["train.lr: Input should be greater than 0"]),
    ("hidden-string", GOOD, ["model.hidden=abc"], ["model.hidden: Input should be a valid integer"]),
    ("hidden-fraction", GOOD, ["model.hidden=1.5"], ["model.hidden: Input should be a valid integer"]),
    ("steps-list", GOOD, ["train.steps=[1,2]"], ["train.steps: Input should be a valid integer"]),
    ("section-not-mapping", "model: 5\n", [], ["model: Input should be a valid dictionary"]),
    ("bad-choice", GOOD, ["model.kind=transformer"], ["model.kind: Input should be 'rnn', 'lstm', 'grid' or 'gru'"]),
    ("forget-bias-on-gru", GOOD, ["model.kind=gru", "model.forget_bias=2"],
     ["model.forget_bias applies only to model.kind lstm|grid"]),
    ("bad-variant", GOOD, ["model.variant=diagonal"], ["model.variant: Input should be 'memory_input' or 'paper'"]),
    ("variant-on-lstm", GOOD, ["model.kind=lstm", "model.variant=paper"],
     ["model.variant applies only to model.kind grid"]),
    ("priority-on-seed-grid", GOOD, ["model.priority=depth"],
     ["model.priority applies only to model.kind grid with model.variant paper"]),
    ("nonlinearity-on-lstm", GOOD, ["model.kind=lstm", "model.nonlinearity=relu"],
     ["model.nonlinearity applies only to model.kind rnn"]),
    ("identity-init-on-grid", GOOD, ["model.init=identity"], ["model.init identity applies only to model.kind rnn"]),
    ("mode-on-adding", GOOD, ["task.mode=whole"], ["task.mode applies only to task.name parity"]),
    ("temporal-order-too-short", GOOD, ["task.name=temporal_order", "task.length=5"],
     ["task.length must be >= 10 for temporal_order"]),
    ("bad-run-name", GOOD, ["name=a/b"], ["name: must be letters, digits, '.', '_' or '-' (a folder name) (got 'a/b')"]),
    ("bad-on-nan", GOOD, ["train.on_nan=maybe"], ["train.on_nan: Input should be 'stop' or 'skip'"]),
    ("checkpoint-every-zero", GOOD, ["train.checkpoint_every=0"],
     ["train.checkpoint_every: Input should be greater than or equal to 1"]),
    ("profile-after-training", GOOD, ["gradients.at_steps=[0, 5]"], ["gradients.at_steps [5] lie after train.steps = 2"]),
    ("seed-string", "seed: abc\n", [], ["seed: Input should be a valid integer"]),
    ("all-at-once", GOOD + "modle: {}\n", ["model.hidden=0", "train.lr=0", "task.length=x", "junk"],
     ["unknown key modle", "model.hidden: Input should be greater than or equal to 1",
      "train.lr: Input should be greater than 0", "task.length: Input should be a valid integer",
      "override 'junk' is not key=value"]),
    ("missing-file-and-bad-override", MISSING, ["model.hiden=3", "=4"],
     ["config file not found", "unknown key model.hiden", "override '=4' is not key=value"]),
]


def invoke(tmp_path: Path, content, args: list[str]):
    """Run ``gridlstm train CONFIG ARGS --out OUT`` in-process; returns (result, out folder)."""
    cfg = tmp_path / "cfg.yaml"
    if content is FOLDER:
        cfg.mkdir()
    elif isinstance(content, bytes):
        cfg.write_bytes(content)
    elif content is not MISSING:
        cfg.write_text(content)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["train", str(cfg), *args, "--out", str(out)])
    return result, out


@pytest.mark.parametrize("content,args,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_config_table(tmp_path, content, args, expected):
    result, out = invoke(tmp_path, content, args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # not an uncaught exception
    err = result.stderr
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    n = len(expected)
    assert lines[0] == f"Error: invalid config ({n} problem{'s' if n != 1 else ''}):", err
    problems = lines[1:]
    assert len(problems) == n and all(p.startswith("  - ") for p in problems), err
    for want in expected:
        assert any(want in p for p in problems), f"{want!r} not in {problems}"
    assert all(len(p.replace(str(tmp_path), "")) < 120 for p in problems), "short problem lines"
    assert not out.exists(), "no run folder (and no output root) for a bad config"
    assert result.stdout == ""


def test_real_command_reports_all_problems_without_traceback(tmp_path):
    """The installed entry point, in a real process: the same block, exit 2, nothing written."""
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "gridlstm.cli.main", "train", str(ROOT / "configs/default.yaml"),
                           "model.hiden=3", "train.lr=0", "model.kind=lstm", "model.variant=paper",
                           "--out", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        "Error: invalid config (3 problems):",
        "  - unknown key model.hiden in override 'model.hiden=3' (did you mean model.hidden?)",
        "  - model.variant applies only to model.kind grid",
        "  - train.lr: Input should be greater than 0 (got 0)",
    ]
    assert not out.exists() and proc.stdout == ""


def test_force_without_resume_is_a_one_line_error(tmp_path):
    result, out = invoke(tmp_path, GOOD, ["--force"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: --force only applies together with --resume RUN_DIR"
    assert not out.exists()


# ----------------------------------------------------------------------------- property-based

KEYS = valid_keys()
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.sampled_from(["grid", "lstm", "rnn", "adding", "copy", "paper", "stop", "skip"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=6)
key_names = st.one_of(st.sampled_from(KEYS + ["task", "model", "train", "modle", "hiden"]), st.text(max_size=10))


@st.composite
def yaml_mappings(draw) -> dict:
    """Mostly-plausible configs: dotted schema keys (nested back into sections) and junk."""
    data: dict = {}
    for key, value in draw(st.dictionaries(key_names, values, max_size=6)).items():
        *parents, leaf = key.split(".") if key else [key]
        node = data
        for p in parents:
            node = node.setdefault(p, {}) if isinstance(node.get(p, {}), dict) else {}
        node[leaf] = value
    return data


def _check_load(path: Path, overrides: list[str]) -> None:
    try:
        cfg = load_config(path, overrides)
    except ConfigError as e:
        assert e.problems and all(isinstance(p, str) and p and "\n" not in p for p in e.problems)
        assert str(e).startswith("invalid config (")
    else:
        assert isinstance(cfg, Config)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=yaml_mappings(), overrides=st.lists(st.text(max_size=15), max_size=3))
def test_random_yaml_mappings_never_raise_anything_but_config_error(tmp_path, data, overrides):
    path = tmp_path / "random.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    _check_load(path, overrides)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=60))
def test_random_yaml_text_never_raises_anything_but_config_error(tmp_path, text):
    path = tmp_path / "random.yaml"
    path.write_text(text)
    _check_load(path, [])


def test_the_reliability_table_quotes_the_messages_these_cases_print(tmp_path):
    """Each message in docs/reliability.md's table of malformed configs is a line one of CASES really
    prints (so a message changed in the code and not in the page fails here)."""
    page = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    table = page.split("Each malformed config the tests cover", 1)[1].split("</details>", 1)[0]
    rows = [line.split(" | ") for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    quoted = [row[-1].rstrip(" |").replace("\\|", "|") for row in rows]
    printed = set()
    for i, (_, content, args, _) in enumerate(CASES):
        (tmp_path / str(i)).mkdir()
        result, _ = invoke(tmp_path / str(i), content, args)
        printed |= {line.strip().removeprefix("- ").replace(str(tmp_path / str(i)) + "/", "")
                    for line in result.stderr.splitlines()}
    described = [q for q in quoted if re.fullmatch(r"\d+ lines: .*|\d+ lines, one per problem", q)]
    assert len(described) == 2 and len(quoted) > 30
    missing = [q for q in quoted if q not in described and q not in printed]
    assert not missing, f"docs/reliability.md quotes messages no case prints: {missing}"
