"""A folder made once across processes: built under a lock in a temporary sibling, then renamed."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

log = logging.getLogger(__name__)


def build_once(
    target: Path, build: Callable[[Path], None], check: Callable[[Path], str] | None = None
) -> Path:
    """Make the folder `target` by build(temp sibling) and an atomic rename, once across processes;
    an error (or a kill) leaves no `target` behind. `check(target)` says what is wrong with an
    existing folder ('' if nothing): a damaged one is moved aside and built again, with a
    warning."""
    if target.is_dir() and not (check and check(target)):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(target.parent / f"{target.name}.lock"):
        problem = check(target) if check and target.is_dir() else ""
        if target.is_dir() and not problem:
            return target
        for stale in target.parent.glob(f".{target.name}.tmp-*"):  # left by a killed builder
            shutil.rmtree(stale, ignore_errors=True)
        if problem:
            log.warning("%s is damaged (%s): building it again", target, problem)
            aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
            os.rename(target, aside / "damaged")
            shutil.rmtree(aside, ignore_errors=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            build(temp)
            os.rename(temp, target)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
    return target


def file_record(path: Path) -> dict[str, int | str]:
    """A file's size and SHA-256, to tell later whether it is still what was written."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return {"size": path.stat().st_size, "sha256": digest.hexdigest()}


_VERIFIED: set[tuple[str, str, int, int]] = set()  # (folder, file, size, mtime) checked here


def damaged(folder: Path, records: dict[str, dict]) -> str:
    """What differs between the files of `folder` and their `records` ('' if nothing): a missing
    file, another size (a truncated or grown file), another checksum (an altered one). A file's
    checksum is read once per process (per size and modification time)."""
    if not records:
        return "no sizes and checksums recorded"
    for name, want in records.items():
        path = folder / name
        try:
            stat = path.stat()
        except OSError:
            return f"{name} is missing"
        if stat.st_size != want.get("size"):
            return f"{name} is {stat.st_size} bytes, {want.get('size')} were written"
        key = (str(folder), name, stat.st_size, stat.st_mtime_ns)
        if key not in _VERIFIED:
            if file_record(path)["sha256"] != want.get("sha256"):
                return f"{name} does not have the checksum it was written with"
            _VERIFIED.add(key)
    return ""
