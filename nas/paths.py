"""Where things are on disk: the project folder, and the file behind a SQLite store URI."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def sqlite_file(uri: str) -> Path | None:
    """The database file of a `sqlite:///PATH` URI (absolute), else None."""
    prefix = "sqlite:///"
    return Path(uri.removeprefix(prefix)).resolve() if uri.startswith(prefix) else None
