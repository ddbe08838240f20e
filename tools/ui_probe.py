"""What the MLflow UI shows of a search, read the way the UI reads it: start the `mlflow ui` of
`make ui` on a store, fetch the experiment's runs and logged models through MLflow's REST API, and
check that every candidate run has a source, a user, a data set and a named model. After `make
search`:

    python -m tools.ui_probe [--store sqlite:///mlflow.db] [--experiment hourglass-nas]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import requests

from cluster.ports import free_port
from nas.commands.ui import running_server


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


def problems(rows: list[dict[str, Any]]) -> list[str]:
    """What a candidate run lacks: a source, a user, a data set; a trained one, a model named
    after it. Empty when every candidate shows them."""
    candidates = [r for r in rows if r["kind"] == "candidate"]
    found = [] if candidates else ["no candidate runs"]
    for r in candidates:
        if not (r["source"] and r["user"] and r["datasets"]):
            found.append(f"{r['name']} lacks a source, a user or a data set: {r}")
        named = r["models"] and all(m.startswith(r["name"]) for m in r["models"])
        if r["state"] == "complete" and not named:
            found.append(f"{r['name']} is trained but shows no model named after it: {r}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.ui_probe", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--store", default="sqlite:///mlflow.db", help="the MLflow store")
    parser.add_argument("--experiment", default="hourglass-nas", help="the search's experiment")
    args = parser.parse_args(argv)
    with running_server(args.store, "127.0.0.1", free_port()) as base:
        rows = runs_table(base, args.experiment)
    for r in rows:
        print(
            f"{r['name']:<20} {r['source'][-30:]:<30} {r['user']:<8} {r['datasets']} {r['models']}"
        )
    found = problems(rows)
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    if found:
        return 1
    print(f"ok: {len(rows)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
