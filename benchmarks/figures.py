"""The last line of every benchmark: one JSON object of its figures, also stored as a result."""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
# Changes under these do not make a result's commit dirty: they are what benchmarks write.
NOT_DIRTYING = ("benchmarks/results/", "docs/")


def print_figures(figures: dict[str, Any]) -> None:
    """Print `figures` as one JSON line: floats rounded to 4 decimals, NaN as null; unless
    $NAS_BENCH_RESULTS is empty or 0, first store them with their context as a JSON file in
    benchmarks/results/ (or the folder $NAS_BENCH_RESULTS names), naming it on stderr."""
    rounded = {key: _plain(value) for key, value in figures.items()}
    folder = results_folder()
    if folder is not None:
        try:
            path = store_result(rounded, folder)
            print(f"stored {path}", file=sys.stderr, flush=True)
        except OSError as err:  # the figures still print: a long run must not lose them
            print(f"could not store the result in {folder}: {err}", file=sys.stderr, flush=True)
    print(json.dumps(rounded), flush=True)


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 4)
    return value


def results_folder() -> Path | None:
    """Where results go: $NAS_BENCH_RESULTS if it names a folder, None if it is empty or 0."""
    value = os.environ.get("NAS_BENCH_RESULTS")
    if value is None:
        return RESULTS
    return None if value.strip() in ("", "0") else Path(value)


def store_result(figures: dict[str, Any], folder: Path) -> Path:
    """Write one result file of `figures` in `folder`, never over an earlier one; its path."""
    record = result_record(figures)
    stem = f"{record['benchmark']}-{record['date'][:10]}-{record['commit'][:7] or 'nocommit'}"
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=2) + "\n"
    n = 1
    while True:
        path = folder / (f"{stem}.json" if n == 1 else f"{stem}-{n}.json")
        try:
            with path.open("x") as file:
                file.write(text)
            return path
        except FileExistsError:
            n += 1


def result_record(figures: dict[str, Any]) -> dict[str, Any]:
    """The stored result: what ran, when, at which commit, on which machine, and its figures."""
    name = benchmark_name()
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    record: dict[str, Any] = {
        "benchmark": name,
        "date": now.isoformat(),
        "commit": _git("rev-parse", "HEAD").strip(),
        "dirty": is_dirty(),
        "machine": machine(),
        "command": shlex.join(["python", "-m", f"benchmarks.{name}", *sys.argv[1:]]),
    }
    seconds = process_seconds()
    if seconds is not None:
        record["seconds"] = seconds
    record["figures"] = figures
    return record


def benchmark_name() -> str:
    """The running benchmark's module name, e.g. bench_latency: sys.argv[0]'s stem, else that of
    the module that called print_figures."""
    stem = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else ""
    if stem not in ("", "-c", "-m", "__main__"):
        return stem
    return _caller_module().rpartition(".")[2] or "benchmark"


def _caller_module() -> str:
    """The dotted name of the nearest module up the stack outside this one; "" for a script."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
    if frame is None:
        return ""
    spec = frame.f_globals.get("__spec__")
    name = spec.name if spec is not None else frame.f_globals.get("__name__", "")
    return "" if name == "__main__" else name


def _git(*args: str) -> str:
    """The output of `git ARGS` in the repository, or "" when git or the repository is missing."""
    try:
        out = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout


def is_dirty() -> bool:
    """Whether tracked files differ from HEAD, other than results and docs."""
    for line in _git("status", "--porcelain", "--untracked-files=no").splitlines():
        paths = [p.strip().strip('"') for p in line[3:].split(" -> ")]
        if not all(p.startswith(NOT_DIRTYING) for p in paths):
            return True
    return False


def machine() -> dict[str, Any]:
    """The CPU model, logical cores, total memory in GiB and operating system of this machine."""
    return {
        "cpu": _proc_field("/proc/cpuinfo", "model name") or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": memory_gib(),
        "system": platform.platform(),
    }


def _proc_field(path: str, name: str) -> str:
    """The first `name: value` of a /proc file, or "" where there is none."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return ""
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip() == name:
            return value.strip()
    return ""


def memory_gib() -> float | None:
    """Total RAM in GiB, to 0.1; None where it cannot be read."""
    kib = _proc_field("/proc/meminfo", "MemTotal").removesuffix("kB").strip()
    if kib.isdigit():
        return round(int(kib) / 2**20, 1)
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def process_seconds() -> float | None:
    """Wall seconds since this process started (Linux /proc), to 0.1; None elsewhere."""
    try:
        # the fields after the command name, which is in parentheses and may hold spaces;
        # the start time (field 22 of proc(5)) is in clock ticks after boot
        fields = Path("/proc/self/stat").read_text().rpartition(")")[2].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return round(max(uptime - started, 0.0), 1)
