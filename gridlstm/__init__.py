"""gridlstm: see why recurrent networks forget, and whether a Grid LSTM fixes it.

The Python API (README "Python API"), imported on first use so that ``import gridlstm`` stays light
(``train`` is the subpackage gridlstm.train, hence ``start_run``):

    load_config(path=None, overrides=())  -> Config       a YAML config, validated, with KEY=VALUE overrides
    build(cfg, device="cpu")              -> (task, model) seeded, untrained
    start_run(cfg, out_root="outputs", ...)  -> Summary   a new run folder, as `gridlstm train`
    resume_run(run_dir, ...)              -> Summary      continue a run, as `gridlstm train --resume`
    measure_gradients(source, ...)        -> GradcheckResult   as `gridlstm gradcheck`
    open_run(path)                        -> RunFolder    config(), meta(), summary(), metrics(), checkpoint()
    Status, Summary, Meta, RunFolder      the run records
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "load_config": "gridlstm.config:load_config",
    "build": "gridlstm.api:build",
    "start_run": "gridlstm.train.lifecycle:start_run",
    "resume_run": "gridlstm.train.lifecycle:resume_run",
    "measure_gradients": "gridlstm.api:measure_gradients",
    "open_run": "gridlstm.api:open_run",
    "Status": "gridlstm.runs.records:Status",
    "Summary": "gridlstm.runs.records:Summary",
    "Meta": "gridlstm.runs.records:Meta",
    "RunFolder": "gridlstm.runs.run:RunFolder",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'gridlstm' has no attribute {name!r}")
    module, attr = _API[name].split(":")
    return getattr(importlib.import_module(module), attr)


def __dir__() -> list[str]:
    return sorted(__all__)
