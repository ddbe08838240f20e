"""One driver per study: a search holds an exclusive lock on its study for as long as it runs,
so that a second `search` of the same study refuses at once, naming the process that holds it,
instead of evaluating the same candidates twice. The lock is a file locked with flock(2) (the
`filelock` package) next to the SQLite file of a sqlite:/// study (every checkout that shares the
file sees it), else in `data.cache_dir`/locks, which covers the drivers of one machine (a study in
PostgreSQL shared by drivers on several machines is not guarded across them)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from nas.errors import UserError
from nas.paths import sqlite_file
from nas.redact import redact_url


def lock_path(storage: str, study: str, cache_dir: str) -> Path:
    """The lock file of `study` in `storage`."""
    database = sqlite_file(storage)
    folder = database.parent if database else Path(cache_dir).expanduser().resolve() / "locks"
    key = hashlib.sha256(f"{redact_url(storage)}\n{study}".encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9_.-]", "_", study)[:40]  # any study name, a safe file name
    return folder / f".nas-study-{slug}-{key}.lock"


@contextlib.contextmanager
def study_lock(storage: str, study: str, cache_dir: str) -> Iterator[Path]:
    """Hold the study's lock while the block runs; a held lock is a UserError naming the
    study and the process that holds it (which the holder writes into the lock file)."""
    path = lock_path(storage, study, cache_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = _read(path) or "another process"
        raise UserError(
            f"study {study!r} in {redact_url(storage)} is being searched by {holder} (lock "
            f"file {path}); one search runs a study at a time. Wait for it to finish or "
            "stop it (Ctrl-C), then run this command again to resume; or name another "
            "search.study_name."
        ) from None
    try:
        since = time.strftime("%Y-%m-%d %H:%M:%S")
        path.write_text(f"process {os.getpid()} on {socket.gethostname()} since {since}")
        yield path
    finally:
        path.write_text("")
        lock.release()


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""
