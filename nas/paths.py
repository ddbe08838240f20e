"""Where things are on disk: the project folder, the file behind a SQLite store URI, and an
exclusive lock file shared by processes."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def sqlite_file(uri: str) -> Path | None:
    """The database file of a `sqlite:///PATH` URI (absolute), else None."""
    prefix = "sqlite:///"
    return Path(uri.removeprefix(prefix)).resolve() if uri.startswith(prefix) else None


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive flock(2) on `path` (created if missing) while the block runs."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def sqlite_creation_lock(uri: str) -> Iterator[None]:
    """For a `sqlite:///` store, hold a lock beside its file while the block runs, so that
    processes starting together create and migrate the database (MLflow's alembic, Optuna's
    tables) and its first rows one at a time; other stores: nothing."""
    database = sqlite_file(uri)
    if database is None:
        yield
        return
    database.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(database.parent / f".{database.name}.create.lock"):
        yield
