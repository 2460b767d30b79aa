"""The tree keeps its layers: every import points down LAYERS (imports inside functions and under
TYPE_CHECKING count too), no import cycle among gridlstm/ and cli/ modules (a deferred import is
still a cycle), nothing in the library draws on a terminal or picks an exit code, and no module
grows past about 400 lines."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREES = ((ROOT / "gridlstm", "gridlstm"), (ROOT / "cli", "gridlstm.cli"))  # cli/ installs as gridlstm.cli


def modules(trees) -> dict[str, Path]:
    """Dotted module name → file, for every .py under each (folder, package name)."""
    out = {}
    for folder, package in trees:
        for f in sorted(folder.rglob("*.py")):
            parts = f.relative_to(folder).with_suffix("").parts
            name = ".".join((package, *parts))
            out[name.removesuffix(".__init__")] = f
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The known modules ``name`` imports, wherever in the file the import stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            for alias in node.names:  # `from pkg import mod` imports pkg.mod
                found.add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in known and m != name}


def cycles(known: dict[str, Path]) -> list[list[str]]:
    graph = {name: imports(name, path, known) for name, path in known.items()}
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    found: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


# Bottom first. A module may import from its own layer and from the layers below it, never above.
# A layer is a module or a subpackage (every module under it), named relative to gridlstm.
LAYERS = (
    ("__init__", "errors", "formatting", "safe_yaml", "threads"),  # the package's version; leaf utilities
    ("compose",),               # config groups
    ("nn",),                    # cells → schedules → model, and the registry of cells
    ("tasks",),                 # the synthetic tasks
    ("limits",),                # resource limits: the cells' declared costs and the tasks' shapes
    ("config",),                # typed configs (the model options come from nn.registry, tasks from tasks)
    ("factory",),               # device, seeded task and model, optimiser
    ("runs",),                  # run folders: layout, the one reader, records, checkpoints
    ("probe",),                 # measuring gradients
    ("train",),                 # training, the run lifecycle, profiles during training
    ("results",),               # comparing runs
    ("plots",),
    ("sweep",),
    ("studies",),
    ("tracking", "tracking_checks", "run_numbers", "tensorboard_log"),  # MLflow and TensorBoard
    ("api",),
    ("cli",),                   # the command line, over everything
)
# Upward imports not yet removed, each with its reason; the list only shrinks.
KNOWN_UPWARD: set[tuple[str, str]] = set()


def layer_of(name: str, root: str = "gridlstm") -> int:
    """Index in LAYERS of a dotted module name (the longest layer entry that names it or a package above it)."""
    rel = name[len(root) + 1:] if name != root else "__init__"
    best, where = -1, None
    for i, layer in enumerate(LAYERS):
        for entry in layer:
            if (rel == entry or rel.startswith(entry + ".")) and len(entry) > best:
                best, where = len(entry), i
    assert where is not None, f"{name} is in no layer: add it to LAYERS in tests/test_layering.py"
    return where


def upward(known: dict[str, Path], root: str = "gridlstm") -> list[tuple[str, str]]:
    """(importer, imported) for every import that points up LAYERS."""
    return sorted((name, dep) for name, path in known.items() for dep in imports(name, path, known)
                  if layer_of(dep, root) > layer_of(name, root))


def test_every_import_points_down_the_layers():
    known = modules(TREES)
    found = set(upward(known))
    assert found - KNOWN_UPWARD == set(), "imports that point up LAYERS"
    assert KNOWN_UPWARD - found == set(), "fixed: take them off KNOWN_UPWARD"


def test_the_direction_check_fails_on_an_upward_import(tmp_path):
    """A tree shaped like ours in which a low layer imports a higher one, inside a function."""
    pkg = tmp_path / "gridlstm"
    (pkg / "runs").mkdir(parents=True)
    (pkg / "train").mkdir()
    for f in ("__init__.py", "runs/__init__.py", "train/__init__.py", "errors.py"):
        (pkg / f).write_text("")
    (pkg / "train" / "trainer.py").write_text("from gridlstm.runs import run\nfrom ..errors import x\n")
    (pkg / "runs" / "run.py").write_text("def f():\n    from gridlstm.train.trainer import Trainer\n")
    known = modules([(pkg, "gridlstm")])
    assert upward(known) == [("gridlstm.runs.run", "gridlstm.train.trainer")]
    assert layer_of("gridlstm.nn.cells") < layer_of("gridlstm.config") < layer_of("gridlstm.cli")


def test_the_cycle_finder_finds_a_deferred_cycle(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .a import g  # deferred, still a cycle\n")
    (pkg / "c.py").write_text("from pkg.a import b\n")
    assert cycles(modules([(pkg, "pkg")])) == [["pkg.a", "pkg.b", "pkg.a"]]


def test_no_import_cycle_in_gridlstm_and_cli():
    known = modules(TREES)
    assert len(known) > 50 and "gridlstm.cli.main" in known and "gridlstm.nn.cells" in known
    assert cycles(known) == []


def test_the_library_draws_nothing_and_exits_nowhere():
    for name, path in modules(TREES[:1]).items():
        tree = ast.parse(path.read_text())
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not imported & {"rich", "click"}, f"{name} renders: that belongs in cli/"
        # (os._exit ends a sweep's forked worker, whose exit code only the executor reads: allowed)
        calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        assert not calls & {"sys.exit", "exit", "quit"}, f"{name} picks an exit code: that belongs in cli/"
        assert "print" not in calls, f"{name} prints: the library returns or hands text to a callback"
        raised = {ast.unparse(n.exc) for n in ast.walk(tree) if isinstance(n, ast.Raise) and n.exc is not None}
        assert not any(r.startswith(("SystemExit", "click.")) for r in raised), f"{name} raises an exit"


def test_no_module_over_400_lines():
    long = {name: n for name, path in modules(TREES).items() if (n := len(path.read_text().splitlines())) > 400}
    assert long == {}
