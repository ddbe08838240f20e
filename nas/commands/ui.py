"""The `ui` command: the MLflow UI on this machine, the smallest server that serves one user, with
the addresses that open the latest search's candidates as a runs table and its parent run, both in
MLflow's model-training mode."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import requests
from mlflow import MlflowClient

from nas.tracking import ui
from nas.tracking.runs import TAG_KIND, TAG_STUDY

# `mlflow ui` starts 4 web workers and, for MLflow's GenAI features, a job runner with its queue
# consumers; one user browsing a search needs one worker and no jobs.
SMALL_SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
FULL_SERVER = "mlflow server --backend-store-uri {store} --host {host} --port {port}"


def addresses(experiment_name: str, base: str) -> list[tuple[str, str]]:
    """(what, URL) for the experiment's latest search: its candidates' table and its run; the
    experiment list where there is no such experiment yet."""
    client = MlflowClient()
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        none_yet = f"experiments (none named {experiment_name!r} yet)"
        return [(none_yet, f"{base}/#/experiments?workflowType=machine_learning")]
    eid = experiment.experiment_id
    latest = client.search_runs(
        [eid],
        f"tags.`{TAG_KIND}` = 'search'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not latest:
        return [(f"runs of {experiment_name}", ui.runs_url(eid, base=base))]
    study = latest[0].data.tags[TAG_STUDY]
    key = ui.share_candidates_view(client, eid, study)
    return [
        (f"candidates of the search '{study}'", ui.runs_url(eid, key, base)),
        (f"its search run {latest[0].info.run_name}", ui.run_url(eid, latest[0].info.run_id, base)),
    ]


def server_command(store: str, host: str, port: int) -> list[str]:
    """`mlflow ui` on `store` with one web worker (SMALL_SERVER_ENV turns its jobs off)."""
    return [
        *(sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", store),
        *("--host", host, "--port", str(port), "--workers", "1"),
    ]


def start_server(store: str, host: str, port: int, **options) -> subprocess.Popen:
    """The small server, in a process group of its own (uvicorn and the `mlflow ui` above it)."""
    env = {**os.environ, **SMALL_SERVER_ENV}
    return subprocess.Popen(
        server_command(store, host, port), env=env, start_new_session=True, **options
    )


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def wait_until_up(base: str, server: subprocess.Popen, seconds: float = 120) -> bool:
    """Whether the server at `base` answers its health check within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if requests.get(f"{base}/health", timeout=2).ok:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.5)
    return False


@contextlib.contextmanager
def running_server(store: str, host: str, port: int) -> Iterator[str]:
    """The small server on `store` while the block runs; yields its base URL."""
    server = start_server(store, host, port, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://{host}:{port}"
    try:
        if not wait_until_up(base, server):
            raise RuntimeError(f"mlflow ui on {store} did not answer at {base}")
        yield base
    finally:
        stop_server(server)


def _has_browser() -> bool:
    """A graphical browser can open: macOS, Windows, or a display (never a terminal browser)."""
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


# Waits (up to 2 minutes) for the server at argv[1] to answer, then opens argv[2] in a browser.
OPENER = """
import sys, time, urllib.request, webbrowser
for _ in range(240):
    try:
        urllib.request.urlopen(sys.argv[1] + "/health", timeout=2)
        webbrowser.open(sys.argv[2])
        break
    except OSError:
        time.sleep(0.5)
"""


def serve(store: str, host: str, port: int, experiment_name: str) -> None:
    """Print the addresses, then become the small `mlflow ui` on the store (this process adds
    nothing to its memory); where there is a browser, a small process opens the first address
    once the server answers. Ctrl-C (or SIGTERM) stops the server."""
    os.environ["MLFLOW_TRACKING_URI"] = store
    base = f"http://{host}:{port}"
    found = addresses(experiment_name, base)
    for what, url in found:
        print(f"{what}:\n  {url}")
    full = FULL_SERVER.format(store=store, host=host, port=port)
    print(f"(one web worker, no job runner; the full MLflow server: {full})", flush=True)
    if _has_browser():
        subprocess.Popen([sys.executable, "-c", OPENER, base, found[0][1]], start_new_session=True)
    command = server_command(store, host, port)
    os.execve(command[0], command, {**os.environ, **SMALL_SERVER_ENV})
