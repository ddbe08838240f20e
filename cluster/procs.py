"""Processes of the local stack: start detached with a log, wait for readiness, find and stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path


class StackError(RuntimeError):
    """A part of the stack cannot be started or reached; the message says which and why."""


def free_port() -> int:
    """A TCP port nothing listens on at 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


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
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def _parents() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    return parents


def matching(marker: str) -> list[int]:
    """PIDs whose command line holds `marker`, and all their descendants."""
    roots = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    roots.append(int(entry.name))
            except OSError:
                continue
    return [pid for pid in descendants(roots) if alive(pid)]


def descendants(roots: Iterable[int]) -> list[int]:
    """`roots` and every process below them."""
    parents = _parents()
    found = set(roots)
    grew = True
    while grew:
        children = {pid for pid, ppid in parents.items() if ppid in found} - found
        found |= children
        grew = bool(children)
    return sorted(found)


def stop(pids: Iterable[int], grace: float = 10) -> None:
    """SIGTERM, then SIGKILL whatever is still alive after `grace` seconds."""
    pids = [pid for pid in pids if alive(pid)]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in pids:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
