"""The Python API: the README's example runs as written, and ``import gridlstm`` stays light."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import gridlstm

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SECTION = README.split("## Python API", 1)[1].split("\n## ", 1)[0]
EXAMPLE = SECTION.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_example_runs_as_written_in_an_empty_folder(tmp_path, monkeypatch, capsys, one_thread):
    monkeypatch.chdir(tmp_path)
    exec(compile(EXAMPLE, "README.md (Python API)", "exec"), {"__name__": "readme"})
    run_dir, = (tmp_path / "outputs" / "api").iterdir()
    run = gridlstm.open_run(run_dir)
    assert run.summary().status == gridlstm.Status.COMPLETED and run.meta().status == "completed"
    assert (run_dir / "gradients" / "gradients.csv").is_file()
    steps = {line.split(",", 1)[0] for line in run.profiles_file.read_text().splitlines()[1:]}
    assert steps == {"0", "20", "40"}  # gradients.at_steps and the end, as gridlstm train records them
    assert run_dir.name in capsys.readouterr().out


def test_the_api_is_what_the_readme_names():
    names = set(gridlstm.__all__) - {"__version__"}
    assert names == {"load_config", "build", "start_run", "resume_run", "measure_gradients", "open_run",
                     "Status", "Summary", "Meta", "RunFolder"}
    for name in ("load_config", "build", "start_run", "resume_run", "measure_gradients", "open_run", "Status"):
        assert name in SECTION
    with pytest.raises(AttributeError):
        gridlstm.no_such_thing  # noqa: B018


def test_import_gridlstm_stays_light():
    code = "import sys, gridlstm; print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'numpy', 'pydantic'}))"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_measure_gradients_of_a_config_and_build(one_thread):
    cfg = gridlstm.load_config(None, ["task.length=6", "model.hidden=4", "model.layers=2", "train.batch_size=4"])
    task, model = gridlstm.build(cfg)
    assert task.name == "adding" and model.cell.layers == 2
    result = gridlstm.measure_gradients(cfg, device="cpu")
    assert result.meta["source"] == "config" and {r["state"] for r in result.rows} >= {"x"}
