"""Memory of the MLflow UI that `make ui` starts against MLflow's default `mlflow ui`, on the same
store: the resident memory (RSS) and proportional share (PSS) of each one's whole process tree
once it answers and has settled. `make ui` starts one web worker and no job runner; MLflow's
default starts 4 workers and a job runner with its queue consumers.

    python -m benchmarks.bench_ui [--store sqlite:///mlflow.db] [--settle 15]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

import psutil

from benchmarks.figures import print_figures
from cluster.ports import free_port
from nas.commands.ui import wait_until_up
from nas.paths import PROJECT_ROOT

MIB = 2**20


def tree_memory(root: int) -> dict[str, float]:
    """RSS and PSS (MiB) summed over `root` and every process below it, and their count."""
    procs = [psutil.Process(root), *psutil.Process(root).children(recursive=True)]
    rss = pss = 0
    for proc in procs:
        try:
            info = proc.memory_full_info()
        except psutil.Error:
            continue
        rss, pss = rss + info.rss, pss + info.pss
    return {"rss_mib": rss / MIB, "pss_mib": pss / MIB, "processes": len(procs)}


def measure(command: list[str], port: int, settle_s: float) -> dict[str, float]:
    """Start `command` (a UI on `port`), wait until it answers and `settle_s` more, measure."""
    server = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        if not wait_until_up(f"http://127.0.0.1:{port}", server, 180):
            raise SystemExit(f"error: {' '.join(command)} did not answer on port {port}")
        time.sleep(settle_s)  # the job runner starts its consumers after the server answers
        return tree_memory(server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default="", help="an MLflow store (default: a new, empty one)")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds after it answers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = args.store or f"sqlite:///{tmp}/mlflow.db"
        port = free_port()
        default = measure(
            [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", store,
             "--host", "127.0.0.1", "--port", str(port)],
            port,
            args.settle,
        )  # fmt: skip
        port = free_port()
        small = measure(
            [sys.executable, "-m", "entrypoints.ui", "--backend-store-uri", store,
             "--host", "127.0.0.1", "--port", str(port)],
            port,
            args.settle,
        )  # fmt: skip
    for name, figures in (("mlflow ui (default)", default), ("make ui", small)):
        print(
            f"{name:<20} {figures['processes']:>3} processes  RSS {figures['rss_mib']:7.0f} MiB"
            f"  PSS {figures['pss_mib']:7.0f} MiB"
        )
    print_figures(
        {
            "default_processes": default["processes"],
            "default_rss_mib": default["rss_mib"],
            "default_pss_mib": default["pss_mib"],
            "make_ui_processes": small["processes"],
            "make_ui_rss_mib": small["rss_mib"],
            "make_ui_pss_mib": small["pss_mib"],
            "rss_ratio": small["rss_mib"] / default["rss_mib"],
            "pss_ratio": small["pss_mib"] / default["pss_mib"],
        }
    )


if __name__ == "__main__":
    main()
