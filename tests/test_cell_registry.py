"""The registry of cells: ModelConfig's cell options generated from the cells' declarations, and
cells of other packages through the ``gridlstm.cells`` entry point of an installed distribution
(a fresh interpreter, as every gridlstm command is, with the distribution on its path)."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from typing import get_args

import pytest

from gridlstm.config import ModelConfig, load_config
from gridlstm.errors import ConfigError
from gridlstm.nn import registry

from .test_external_cell import PATH, ROOT, doc_example

PLUGINS = textwrap.dedent('''
    from gridlstm.nn.cells import Option
    from mycells.indrnn import IndRNNCell

    class Clipped(IndRNNCell):  # a new option: |u| <= u_max
        kind = "clipped"
        options = {**IndRNNCell.options, "u_max": Option(1.0, ge=0.0, description="largest |u|")}

        def __init__(self, hidden, layers, tied, nonlinearity="tanh", u_max=1.0):
            super().__init__(hidden, layers, tied, nonlinearity)
            self.u_max = u_max

    class Lstm(IndRNNCell):
        kind = "lstm"

    class Relu(IndRNNCell):
        kind = "relu_default"
        options = {"nonlinearity": Option("relu", ("tanh", "relu"))}

    class NoEquations(IndRNNCell.__mro__[1]):
        kind = "empty"
''')

SCRIPT = textwrap.dedent('''
    import json, warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from gridlstm.config import ModelConfig, load_config
        from gridlstm.errors import ConfigError
        from gridlstm.nn import registry
    out = {"warnings": sorted(str(w.message) for w in caught), "kinds": list(registry.kinds())}
    field = ModelConfig.model_fields["u_max"]
    out["u_max"] = [field.default, field.description, ModelConfig(kind="clipped").u_max]
    out["built"] = registry.build_cell(ModelConfig(kind="clipped", u_max=0.5, hidden=3)).u_max
    out["problems"] = []
    for args in (["model.kind=clipped", "model.u_max=-1"], ["model.kind=lstm", "model.u_max=2"],
                 ["model.kind=transformer"]):
        try:
            load_config(None, args)
        except ConfigError as e:
            out["problems"].append(e.problems)
    print(json.dumps(out))
''')


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """What the entry points of an installed distribution give a fresh gridlstm."""
    site = tmp_path_factory.mktemp("site")
    (site / "mycells").mkdir()
    (site / "mycells" / "__init__.py").write_text("")
    (site / "mycells" / "indrnn.py").write_text(doc_example())
    (site / "mycells" / "plugins.py").write_text(PLUGINS)
    dist = site / "mycells-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mycells\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[gridlstm.cells]\nclipped = mycells.plugins:Clipped\nlstm = mycells.plugins:Lstm\n"
        "relu = mycells.plugins:Relu\nempty = mycells.plugins:NoEquations\nmissing = mycells.gone:Cell\n"
        f"indrnn = {PATH}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_an_entry_point_cell_is_a_kind_and_its_new_option_a_model_key(installed):
    assert installed["kinds"] == [*registry.KINDS, "clipped", "indrnn"]
    assert installed["u_max"] == [1.0, "largest |u|; clipped only", 1.0]
    assert installed["built"] == 0.5  # the constructor gets the option it declares
    bounds, other_kind, unknown = installed["problems"]
    assert bounds == ["model.u_max: Input should be greater than or equal to 0 (got -1)"]
    assert other_kind == ["model.u_max applies only to model.kind clipped"]
    assert unknown == ["model.kind: Input should be 'rnn', 'lstm', 'grid', 'gru', 'clipped' or 'indrnn' "
                       "(got 'transformer')"]


def test_a_broken_entry_point_is_left_out_with_a_warning_naming_it(installed):
    group = "(group gridlstm.cells)"
    assert installed["warnings"] == [
        f"entry point empty = mycells.plugins:NoEquations {group}: the cell class NoEquations does not "
        "declare state_names, right_idx, up_idx, reference; left out",
        f"entry point lstm = mycells.plugins:Lstm {group}: model.kind lstm is taken; name the kind otherwise; "
        "left out",
        f"entry point missing = mycells.gone:Cell {group} does not load: ModuleNotFoundError: No module "
        "named 'mycells.gone'; left out",
        f"entry point relu = mycells.plugins:Relu {group}: model.nonlinearity defaults to 'relu', but "
        "RNNCell has 'tanh': cells sharing an option share its default; left out",
    ]


def test_model_config_fields_are_the_built_in_cells_options():
    fields = ModelConfig.model_fields
    for cls in registry.BUILTIN:
        for name, opt in cls.options.items():
            assert fields[name].default == opt.default, (cls, name)
            assert set(opt.choices or ()) <= set(get_args(fields[name].annotation)), (cls, name)
    assert get_args(fields["init"].annotation) == ("default", "orthogonal", "identity", "glorot")
    assert fields["init"].description.endswith("; identity: rnn only; glorot: rnn and lstm and grid only")
    assert fields["forget_bias"].description.endswith("; lstm and grid only")
    assert list(fields)[:5] == ["kind", "hidden", "layers", "variant", "tied"] and list(fields)[-1] == "schedule"
    with pytest.raises(ConfigError) as e:
        load_config(None, ["model.kind=rnn", "model.schedule=diagonal"])
    assert e.value.problems == ["model.schedule: Input should be 'auto', 'layerwise', 'wavefront' or 'naive' "
                                "(got 'diagonal')"]


def test_weight_options_are_what_a_checkpoint_must_agree_on():
    assert registry.weight_options("rnn") == ("nonlinearity",)
    assert registry.weight_options("lstm") == ()
    assert registry.weight_options("grid", "paper") == ("priority", "output")


def _names_in_code(path) -> set[str]:
    """The string constants of a module's code: not its docstrings, not a config field's default."""
    tree = ast.parse(path.read_text())
    skip = {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
            and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    skip |= {id(node.args[0]) for node in ast.walk(tree) if isinstance(node, ast.Call) and node.args
             and getattr(node.func, "id", None) == "Field"}
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip}


def test_no_module_outside_nn_names_a_cell_kind_variant_or_state():
    """So that a new built-in kind touches gridlstm/nn/, a config group file and the tests only."""
    cells = {name for c in registry.BUILTIN for name in (c.kind, c.variant, *c.state_names)
             if name and len(name) > 1}
    found = {}
    for path in [*(ROOT / "gridlstm").rglob("*.py"), *(ROOT / "cli").rglob("*.py")]:
        rel = path.relative_to(ROOT)
        if rel.parts[:2] != ("gridlstm", "nn") and rel.parts[:2] != ("gridlstm", "cli"):  # cli/ is read once
            named = _names_in_code(path) & cells
            if named:
                found[str(rel)] = sorted(named)
    assert not found, found
