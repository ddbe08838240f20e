"""Processes of the local stack: start detached with a log, wait for readiness, find and stop."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import psutil


class StackError(RuntimeError):
    """A part of the stack cannot be started or reached; the message says which and why."""


def spawn(
    args: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> int:
    """Start `args` in a session of its own (it outlives this process), output to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    return proc.pid


def run(
    args: list[str],
    what: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> str:
    """Run a command to completion; a failure raises StackError with its output."""
    try:
        done = subprocess.run(
            args, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise StackError(f"{what}: {err}") from None
    if done.returncode != 0:
        raise StackError(
            f"{what} failed (exit {done.returncode}): "
            f"{(done.stderr or done.stdout).strip()[-1500:]}"
        )
    return done.stdout


def wait_until(
    ready: Callable[[], bool],
    what: str,
    log: Path | None,
    timeout: float = 90,
    pid: int | None = None,
) -> None:
    """Poll `ready` until it holds; fail early when the process `pid` has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if pid is not None and not alive(pid):
            timeout = 0
            break
        time.sleep(0.3)
    tail = log.read_text(errors="replace")[-1500:] if log and log.exists() else ""
    why = "exited" if timeout == 0 else f"did not become ready within {timeout:.0f} s"
    raise StackError(f"{what} {why}; the end of {log}: {tail}")


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def matching(marker: str) -> list[int]:
    """PIDs whose command line holds `marker`, and all their descendants, alive."""
    roots = []
    for proc in psutil.process_iter(["cmdline"]):
        if proc.pid != psutil.Process().pid and marker in " ".join(proc.info["cmdline"] or []):
            roots.append(proc.pid)
    return [pid for pid in descendants(roots) if alive(pid)]


def descendants(roots: Iterable[int]) -> list[int]:
    """`roots` and every process below them."""
    found = set(roots)
    for pid in list(found):
        try:
            found.update(child.pid for child in psutil.Process(pid).children(recursive=True))
        except psutil.NoSuchProcess:
            continue
    return sorted(found)


def stop(pids: Iterable[int], grace: float = 10) -> None:
    """SIGTERM, then SIGKILL whatever is still alive after `grace` seconds."""
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, left = psutil.wait_procs(procs, timeout=grace)
    for proc in left:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(left, timeout=grace)
