"""Before anything starts: is a tracking URI one that can work, and does its store answer?

    check_uri(uri)        malformed, a SQLite path whose folder does not exist, a file that is
                          not a SQLite database, a store that cannot be written: GridlstmError
    bounded(probe=...)    MLflow's HTTP retries and timeouts bounded while a call runs (the user's
                          own MLFLOW_HTTP_REQUEST_* environment variables win), its log records and
                          warnings kept off the terminal (``MlflowLog`` keeps the first line)

The rule, the same for every command (docs/reliability.md): a URI that cannot be right is bad input
(exit 2 before any folder exists); a store that does not answer within PROBE_SECONDS is a warning
for train and sweep, which then run without tracking, and an error (exit 2) for export, whose only
job is sending.
"""
from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from gridlstm.errors import GridlstmError

EXAMPLES = "e.g. http://127.0.0.1:5000 or sqlite:///mlflow.db"
SERVER_SCHEMES = ("http", "https", "postgresql", "mysql", "mssql")
SQLITE_MAGIC = b"SQLite format 3\x00"
PROBE_SECONDS = 5  # one attempt, no retries: a store that is down is known within this
# while training (after a probe that answered): a few retries, each call bounded
RETRIES, TIMEOUT, BACKOFF = "2", "10", "1"


def check_uri(uri: str) -> None:
    """Refuse a tracking URI that cannot work, naming what is wrong; touches nothing on disk."""
    shown = repr(uri) if len(uri) <= 200 else repr(uri[:200]) + "..."
    if not uri.strip() or any(c.isspace() or not c.isprintable() for c in uri):
        raise GridlstmError(f"tracking URI {shown} is not a URI (no spaces or control characters; {EXAMPLES})")
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as e:
        raise GridlstmError(f"tracking URI {shown} is malformed ({e}; {EXAMPLES})") from None
    scheme = parts.scheme.split("+")[0].lower()  # postgresql+psycopg2://
    if scheme == "sqlite":
        check_sqlite(uri, shown)
    elif scheme in SERVER_SCHEMES:
        if not parts.hostname or (port is not None and not 0 < port < 65536):
            raise GridlstmError(f"tracking URI {shown} names no host ({scheme}://HOST[:PORT]; {EXAMPLES})")
    elif scheme == "databricks":
        return
    else:
        what = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise GridlstmError(f"tracking URI {shown} has {what}; supported: http, https, sqlite, "
                            f"postgresql, mysql, mssql, databricks ({EXAMPLES})")


def sqlite_path(uri: str) -> Optional[Path]:
    """The database file of ``sqlite:///relative.db`` or ``sqlite:////abs.db`` (None: in memory)."""
    rest = uri.split(":", 1)[1]
    if not rest.startswith("///"):
        return None if rest in ("", "//") else Path(rest.lstrip("/"))
    path = rest[3:].split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


def check_sqlite(uri: str, shown: str) -> None:
    if not uri.split(":", 1)[1].startswith("///"):
        raise GridlstmError(f"tracking URI {shown}: a SQLite URI is sqlite:///RELATIVE.db or sqlite:////ABSOLUTE.db")
    path = sqlite_path(uri)
    if path is None:
        return
    folder = path.parent
    if not folder.is_dir():
        raise GridlstmError(f"tracking URI {shown}: folder {folder} does not exist (it is not created; "
                            "make it first or choose another path)")
    if path.exists() or path.is_symlink():
        if not path.is_file():
            raise GridlstmError(f"tracking URI {shown}: {path} is not a regular file")
        try:
            with open(path, "rb") as f:
                head = f.read(len(SQLITE_MAGIC))
        except OSError as e:
            raise GridlstmError(f"tracking URI {shown}: cannot read {path} ({e.strerror})") from None
        if head and head != SQLITE_MAGIC:
            raise GridlstmError(f"tracking URI {shown}: {path} is not a SQLite database; "
                                "choose a new file name or an existing MLflow database")
        if not os.access(path, os.W_OK):
            raise GridlstmError(f"tracking URI {shown}: {path} is read-only; fix its permissions or "
                                "choose another file")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise GridlstmError(f"tracking URI {shown}: cannot write in {folder} (SQLite keeps its journal "
                            "beside the database); choose another path")


REASONS = (("Connection refused", "connection refused"), ("timed out", "no answer in time"),
           ("Name or service not known", "unknown host"), ("Temporary failure in name resolution", "unknown host"),
           ("No route to host", "no route to host"), ("Max retries exceeded", "no connection"))


def reason(e: BaseException, logged: Optional[str] = None) -> str:
    """Why an MLflow call failed, in a few words (urllib3's own message is a paragraph)."""
    text = " ".join(str(e).split())
    for needle, short in REASONS:
        if needle in text:
            return short
    return text[:200] or logged or type(e).__name__


class MlflowLog(logging.Handler):
    """MLflow's (and its database layer's) log records while a call runs: kept, not printed; the
    first line of the first warning or error is what a failure message quotes."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.first: Optional[str] = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.first is None:
            self.first = " ".join(record.getMessage().split())[:200]


LOGGERS = ("mlflow", "alembic", "sqlalchemy")


@contextmanager
def bounded(log: MlflowLog, probe: bool = False) -> Iterator[None]:
    """MLflow calls inside: retries/timeouts bounded, log records to ``log``, warnings muted."""
    limits = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0" if probe else RETRIES,
              "MLFLOW_HTTP_REQUEST_TIMEOUT": str(PROBE_SECONDS) if probe else TIMEOUT,
              "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": BACKOFF}
    added = [k for k in limits if k not in os.environ]
    saved = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.handlers, logger.propagate))
        logger.handlers, logger.propagate = [log], False
    try:
        os.environ.update({k: limits[k] for k in added})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for k in added:
            os.environ.pop(k, None)
        for logger, handlers, propagate in saved:
            logger.handlers, logger.propagate = handlers, propagate
