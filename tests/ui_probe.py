"""What the MLflow UI shows of a search, read the way the UI reads it: start `mlflow ui` on a store,
fetch the experiment's runs and logged models through MLflow's REST API, and check that every
candidate run has a source, a user, a data set and a named model. After `make search`:

    python -m tests.ui_probe sqlite:///mlflow.db hourglass-nas
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Any

import requests


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def mlflow_ui(store: str, timeout_s: float = 120):
    """`mlflow ui` on a free local port; yields its base URL."""
    port = _free_port()
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", store]
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if requests.get(f"{base}/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            assert server.poll() is None, "mlflow ui exited"
            assert time.monotonic() < deadline, "mlflow ui did not answer"
            time.sleep(0.5)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def _post(base: str, path: str, body: dict) -> dict:
    answer = requests.post(f"{base}/api/2.0/mlflow/{path}", json=body, timeout=30)
    answer.raise_for_status()
    return answer.json()


def runs_table(base: str, experiment_name: str) -> list[dict[str, Any]]:
    """One row per run as the runs table shows it: name, Source, User, Dataset, Models."""
    experiment = requests.get(
        f"{base}/api/2.0/mlflow/experiments/get-by-name",
        params={"experiment_name": experiment_name},
        timeout=30,
    ).json()["experiment"]
    ids = [experiment["experiment_id"]]
    found = _post(base, "runs/search", {"experiment_ids": ids, "max_results": 1000})
    models = _post(base, "logged-models/search", {"experiment_ids": ids, "max_results": 1000})
    names = {m["info"]["model_id"]: m["info"]["name"] for m in models.get("models", [])}
    rows = []
    for run in found.get("runs", []):
        tags = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
        inputs = run.get("inputs", {}).get("dataset_inputs", [])
        outputs = run.get("outputs", {}).get("model_outputs", [])
        rows.append(
            {
                "name": run["info"]["run_name"],
                "kind": tags.get("nas.kind", ""),
                "source": tags.get("mlflow.source.name", ""),
                "user": tags.get("mlflow.user", ""),
                "datasets": [d["dataset"]["name"] for d in inputs],
                "models": [names.get(o["model_id"], "?") for o in outputs],
                "state": tags.get("nas.state", ""),
            }
        )
    return rows


def check(rows: list[dict[str, Any]]) -> None:
    """Every candidate shows a source, a user and a data set; each trained one a named model."""
    candidates = [r for r in rows if r["kind"] == "candidate"]
    assert candidates, "no candidate runs"
    for r in candidates:
        assert r["source"] and r["user"] and r["datasets"], r
        if r["state"] == "complete":
            assert r["models"] and all(m.startswith(r["name"]) for m in r["models"]), r


def main(store: str, experiment_name: str) -> None:
    with mlflow_ui(store) as base:
        rows = runs_table(base, experiment_name)
    for r in rows:
        print(
            f"{r['name']:<20} {r['source'][-30:]:<30} {r['user']:<8} {r['datasets']} {r['models']}"
        )
    check(rows)
    print(f"ok: {len(rows)} runs")


if __name__ == "__main__":
    main(*sys.argv[1:3])
