"""The `ui` command: the MLflow UI on this machine, with the addresses that open the latest search's
candidates as a runs table (not MLflow 3's GenAI overview) and its parent run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import webbrowser

import requests
from mlflow import MlflowClient

from nas.tracking import ui
from nas.tracking.runs import TAG_KIND, TAG_STUDY


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


def _has_browser() -> bool:
    """A graphical browser can open: macOS, Windows, or a display (never a terminal browser)."""
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def _wait_until_up(base: str, server: subprocess.Popen, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if requests.get(f"{base}/health", timeout=2).ok:
                return True
        except requests.RequestException:
            time.sleep(0.5)
    return False


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # runs the `finally` that stops the server


def serve(store: str, host: str, port: int, experiment_name: str) -> int:
    """Print the addresses, start `mlflow ui` on the store, open the first address in a browser
    where there is one, and wait until the server stops; Ctrl-C (or SIGTERM) stops it."""
    os.environ["MLFLOW_TRACKING_URI"] = store
    base = f"http://{host}:{port}"
    found = addresses(experiment_name, base)
    for what, url in found:
        print(f"{what}:\n  {url}", flush=True)
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", store]
    server = subprocess.Popen(  # a process group of its own: uvicorn and its workers
        [*command, "--host", host, "--port", str(port)], start_new_session=True
    )
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        if _wait_until_up(base, server) and _has_browser():
            webbrowser.open(found[0][1])
        return server.wait()
    except KeyboardInterrupt:
        return 130
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait()
