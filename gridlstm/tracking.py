"""Copy run folders into MLflow (the optional extra ``mlflow``: pip install '.[mlflow]' in the source folder); the folder stays the truth.

    params      the run's config.yaml, flattened (model.hidden, train.lr, ...)
    metrics     every row of metrics.csv, with its step: train/loss train/metric grad_norm lr
                (train rows), eval/loss eval/metric (eval rows)
                and, at the last step, the outcome and gradcheck's numbers (gridlstm/run_numbers.py:
                outcome/solved, outcome/steps_to_solve, grad/<state>/L<d>/slope, depth/<state>/decades ...)
    tags        gridlstm.status, gridlstm.run_dir, mlflow.source.git.commit (meta.json), gridlstm.solved,
                gridlstm.gradients (gradcheck's one-line conclusion)
    artifacts   config.yaml meta.json summary.json, gradients/ and plots/

``gridlstm train`` with a tracking URI logs metric batches at eval points while it trains
(LiveMetrics, a trainer hook) and the rest from the folder when the run ends; ``gridlstm sweep``
logs the sweep folder at its end as a parent run with one child per run; ``gridlstm export`` does
the same for folders already on disk. An MLflow run is found again by its gridlstm.run_dir tag, so
a resumed run or a second export continues the same MLflow run (only steps not yet logged are added).

While training, a tracking failure never stops the run: one warning on stderr, then nothing more is
sent (export the folder later). ``export`` (strict) fails with a GridlstmError instead.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

from gridlstm import run_numbers
from gridlstm.errors import GridlstmError
from gridlstm.runs.folder import read_json_or_empty
from gridlstm.runs.layout import CONFIG, GRADIENTS_DIR, META, SUMMARY
from gridlstm.runs.run import RunFolder
from gridlstm.tracking_checks import MlflowLog, bounded, check_uri, reason

MLFLOW_MISSING = ("MLflow tracking needs the optional extra: pip install '.[mlflow]' "
                  "(or pip install 'mlflow-skinny>=2.10' sqlalchemy alembic)")
RUN_DIR_TAG, STATUS_TAG, PARENT_TAG = "gridlstm.run_dir", "gridlstm.status", "mlflow.parentRunId"
ARTIFACT_FILES = (CONFIG, META, SUMMARY)
ARTIFACT_DIRS = (GRADIENTS_DIR, "plots")
SWEEP_ARTIFACTS = ("sweep.yaml", "results.csv", "results.md", "status.csv")
TERMINAL = {"completed": "FINISHED", "diverged": "FAILED", "failed": "FAILED", "interrupted": "KILLED"}
BATCH = 1000  # MLflow's limit of metrics per log_batch call (params: 100)


def import_mlflow() -> Any:
    """``mlflow.tracking.MlflowClient`` with a one-line error when the extra is missing."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise GridlstmError(MLFLOW_MISSING) from None
    return MlflowClient


def metric_rows(rows: list[dict[str, str]]) -> list[tuple[int, dict[str, float], float]]:
    """(step, {metric name: value}, seconds) for each complete row of metrics.csv."""
    out = []
    for row in rows:
        try:
            step = int(row["step"])
        except (TypeError, ValueError, KeyError):
            continue  # a torn last line
        split = row.get("split") or "train"
        values = {f"{split}/loss": row.get("loss"), f"{split}/metric": row.get("metric")}
        if split == "train":
            values.update(grad_norm=row.get("grad_norm"), lr=row.get("lr"))
        floats = {}
        for key, v in values.items():
            try:
                floats[key] = float(v)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                pass
        try:
            seconds = float(row.get("seconds") or 0.0)
        except ValueError:
            seconds = 0.0
        out.append((step, floats, seconds))
    return out


def _started_ms(meta: dict[str, Any]) -> int:
    try:
        return int(datetime.fromisoformat(meta["started"]).timestamp() * 1000)
    except (KeyError, TypeError, ValueError):
        return int(time.time() * 1000)


class Tracker:
    """One MLflow tracking URI. ``strict``: errors raise (export); otherwise the first error goes
    to ``warn`` once (the CLI prints it on stderr) and every later call does nothing (training)."""

    def __init__(self, uri: str, strict: bool = False, warn: Callable[[str], None] = lambda text: None):
        """Checks ``uri`` (GridlstmError if it cannot work) and asks the store once, within
        PROBE_SECONDS: a store that does not answer is an error when ``strict``, else one warning
        and no tracking (tracking_checks.py has the rule)."""
        self.uri, self.strict, self.broken, self.warn = uri, strict, False, warn
        self.log = MlflowLog()
        check_uri(uri)
        client = import_mlflow()
        self.client = self.safe("open the store", client, tracking_uri=uri, probe=True)
        self.safe("reach the store", lambda: self.client.search_experiments(max_results=1), probe=True)

    def safe(self, what: str, fn: Any, *args: Any, probe: bool = False, **kwargs: Any) -> Any:
        if self.broken:
            return None
        try:
            with bounded(self.log, probe):
                return fn(*args, **kwargs)
        except Exception as e:  # the server is down, the store is locked, ...
            first = reason(e, self.log.first)
            if self.strict:
                raise GridlstmError(f"MLflow at {self.uri}: {what} failed: {first}") from None
            self.broken = True
            self.warn(f"warning: MLflow tracking at {self.uri} failed ({what}: {first}); training goes on "
                      "without tracking. The run folder has everything: gridlstm export RUN_DIR "
                      f"--to {self.uri}")
            return None

    # -- runs ------------------------------------------------------------------------------------
    def experiment_id(self, name: str) -> Optional[str]:
        def get() -> str:
            exp = self.client.get_experiment_by_name(name)
            return exp.experiment_id if exp is not None else self.client.create_experiment(name)
        return self.safe("experiment", get)

    def open_run(self, experiment: str, folder: Path, parent: Optional[str] = None) -> Optional[str]:
        """The MLflow run of ``folder`` (found by its gridlstm.run_dir tag, or created)."""
        exp_id = self.experiment_id(experiment)
        if exp_id is None:
            return None
        key = str(Path(folder).resolve())

        def get() -> str:
            found = self.client.search_runs([exp_id], filter_string=f"tags.`{RUN_DIR_TAG}` = '{key}'",
                                            max_results=1)
            if found:
                return found[0].info.run_id
            tags = {RUN_DIR_TAG: key, **({PARENT_TAG: parent} if parent else {})}
            return self.client.create_run(exp_id, run_name=Path(folder).name, tags=tags).info.run_id
        return self.safe("create run", get)

    def logged_step(self, run_id: str) -> int:
        """The last step whose metrics this run already holds (-1: none)."""
        def get() -> int:
            steps = [m.step for key in ("train/loss", "eval/loss")
                     for m in self.client.get_metric_history(run_id, key)]
            return max(steps, default=-1)
        result = self.safe("read metrics", get)
        return -1 if result is None else result

    def log_metrics(self, run_id: str, rows: list[tuple[int, dict[str, float], float]],
                    started_ms: int) -> None:
        from mlflow.entities import Metric

        metrics = [Metric(k, v, started_ms + int(s * 1000), step) for step, vals, s in rows for k, v in vals.items()]
        for i in range(0, len(metrics), BATCH):
            self.safe("log metrics", self.client.log_batch, run_id, metrics=metrics[i:i + BATCH])

    def log_params_tags(self, run_id: str, params: dict[str, str], tags: dict[str, Any]) -> None:
        from mlflow.entities import Param, RunTag

        have = self.safe("read run", lambda: self.client.get_run(run_id).data.params) or {}
        items = [Param(k, v[:6000]) for k, v in params.items() if k not in have]
        for i in range(0, len(items), 100):
            self.safe("log params", self.client.log_batch, run_id, params=items[i:i + 100])
        self.safe("log tags", self.client.log_batch, run_id,
                  tags=[RunTag(k, v) for k, v in tags.items() if v is not None])

    def log_artifacts(self, run_id: str, folder: Path, files: tuple[str, ...], dirs: tuple[str, ...]) -> None:
        for name in files:
            if (folder / name).is_file():
                self.safe("log artifacts", self.client.log_artifact, run_id, str(folder / name))
        for name in dirs:
            if (folder / name).is_dir():
                self.safe("log artifacts", self.client.log_artifacts, run_id, str(folder / name), name)

    def end(self, run_id: str, status: str) -> None:
        if status in TERMINAL:
            self.safe("end run", self.client.set_terminated, run_id, TERMINAL[status])

    # -- folders ---------------------------------------------------------------------------------
    def log_run_folder(self, folder: Path, experiment: str, parent: Optional[str] = None,
                       run_id: Optional[str] = None) -> Optional[str]:
        """Everything of a run folder (see the module docstring); returns the MLflow run id."""
        from gridlstm.config import flatten
        from gridlstm.runs.files import check_folder

        folder = Path(folder)
        check_folder(folder)  # nothing from outside the folder is sent
        run_id = run_id or self.open_run(experiment, folder, parent)
        if run_id is None:
            return None
        run = RunFolder(folder)
        meta = read_json_or_empty(run.meta_file)
        try:
            params = {k: "null" if v is None else str(v) for k, v in flatten(run.config_yaml()).items()}
        except GridlstmError:
            params = {}
        self.log_params_tags(run_id, params, {
            STATUS_TAG: str(meta.get("status", "unknown")),
            "mlflow.source.git.commit": (meta.get("git") or {}).get("commit"),
            "gridlstm.device": meta.get("device")})
        done = self.logged_step(run_id)
        self.log_metrics(run_id, [r for r in metric_rows(run.metrics_from(0)[0]) if r[0] > done], _started_ms(meta))
        self.log_numbers(run_id, folder, _started_ms(meta))
        self.log_artifacts(run_id, folder, ARTIFACT_FILES, ARTIFACT_DIRS)
        self.end(run_id, str(meta.get("status")))
        return run_id

    def log_numbers(self, run_id: str, folder: Path, started_ms: int) -> None:
        """The outcome and gradcheck's numbers (gridlstm/run_numbers.py) as metrics at the run's
        last step, so the UI sorts and charts runs by them; solved and the conclusion as tags."""
        values = run_numbers.numbers(folder)
        if values:
            step = int(values.get("outcome/steps", 0))
            self.log_metrics(run_id, [(step, values, 0.0)], started_ms)
        said = run_numbers.conclusion(folder)
        solved = values.get("outcome/solved")
        self.log_params_tags(run_id, {}, {"gridlstm.solved": None if solved is None else str(bool(solved)).lower(),
                                          "gridlstm.gradients": said})

    def log_sweep_folder(self, sweep_dir: Path, experiment: Optional[str] = None) -> Optional[str]:
        """A sweep folder: a parent run (sweep.yaml, results, plots) with one child run per run."""
        from gridlstm.runs.files import SWEEP_FILES, check_folder

        sweep_dir = Path(sweep_dir)
        check_folder(sweep_dir, SWEEP_FILES)
        meta = read_json_or_empty(sweep_dir / META)
        expansion = read_json_or_empty(sweep_dir / "expansion.json")
        experiment = experiment or str(expansion.get("name") or sweep_dir.parent.name)
        parent = self.open_run(experiment, sweep_dir)
        if parent is None:
            return None
        self.log_params_tags(parent, {"sweep.keys": ",".join(expansion.get("keys") or [])},
                             {STATUS_TAG: str(meta.get("status", "unknown"))})
        for run in sorted(p for p in (sweep_dir / "runs").iterdir() if p.is_dir()):
            self.log_run_folder(run, experiment, parent=parent)
        self.log_artifacts(parent, sweep_dir, SWEEP_ARTIFACTS, ("plots",))
        self.end(parent, str(meta.get("status")))
        return parent


class LiveMetrics:
    """Trainer hook: at each eval point, the metrics.csv rows written since the last batch go to
    MLflow in one log_batch (the rows of step s are on disk when the hook runs at step s + 1)."""

    def __init__(self, tracker: Tracker, experiment: Optional[str]):
        self.tracker, self.experiment = tracker, experiment
        self.run_id: Optional[str] = None
        self.offset, self.done, self.started_ms = 0, -1, int(time.time() * 1000)

    def __call__(self, trainer: Any) -> None:
        if self.tracker.broken or trainer.run_dir is None:
            return
        if self.run_id is None:
            self.experiment = experiment_name(trainer.cfg, self.experiment)
            self.run_id = self.tracker.open_run(self.experiment, trainer.run_dir)
            if self.run_id is not None:
                self.done = self.tracker.logged_step(self.run_id)
                self.started_ms = _started_ms(read_json_or_empty(RunFolder(trainer.run_dir).meta_file))
        elif (trainer.step - 1) % trainer.cfg.train.eval_every == 0:
            self.flush(trainer.run_dir)

    def flush(self, run_dir: Path) -> None:
        if self.run_id is None:
            return
        new, self.offset = RunFolder(run_dir).metrics_from(self.offset)  # from 0 again after a resume truncated it
        rows = [r for r in metric_rows(new) if r[0] > self.done]
        if rows:
            self.tracker.log_metrics(self.run_id, rows, self.started_ms)
            self.done = rows[-1][0]

    def finish(self, run_dir: Path) -> Optional[str]:
        """At the end of the run: everything else, from the folder."""
        if self.tracker.broken:
            return None
        if self.experiment is None:  # nothing trained (a resume of a finished run)
            from gridlstm.runs.run import RunFolder

            self.experiment = experiment_name(RunFolder(Path(run_dir)).config(), None)
        return self.tracker.log_run_folder(Path(run_dir), self.experiment, run_id=self.run_id)


def experiment_name(cfg: Any, given: Optional[str]) -> str:
    """--experiment, else the config's tracking.experiment, else the run name."""
    return given or cfg.tracking.experiment or cfg.run_name


def tracking_uri(cfg: Any, given: Optional[str]) -> Optional[str]:
    """--tracking-uri, else the config's tracking.uri (None: no tracking)."""
    return given or cfg.tracking.uri
