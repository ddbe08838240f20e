"""Where things are on disk: the project folder, the file behind a SQLite store URI, and the lock
that lets processes starting together create such a store once."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def sqlite_file(uri: str) -> Path | None:
    """The database file of a `sqlite:///PATH` URI (absolute), else None."""
    prefix = "sqlite:///"
    return Path(uri.removeprefix(prefix)).resolve() if uri.startswith(prefix) else None


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
    with FileLock(database.parent / f".{database.name}.create.lock"):
        yield
