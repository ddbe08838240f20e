"""Addresses in the MLflow UI: a run's page, and an experiment's runs table opened as a
model-training experiment with the search's columns.

MLflow 3.17's UI ignores the experiment tag `mlflow.experimentKind`: it shows every experiment as
the browser's workflow switch says (GenAI, its first choice, opens on "Overview" and traces; Model
training opens on the runs), and the URL parameter `workflowType=machine_learning` overrides that.
The columns a runs table shows live in the browser too, except for a view shared through the URL:
`viewStateShareKey=KEY` loads the experiment tag `mlflow.sharedViewState.KEY`, a JSON object of
search facets (filter, order) and table state (`selectedColumns`), which this module writes.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from mlflow import MlflowClient

from nas.redact import redact_url
from nas.tracking.runs import TAG_KIND, TAG_STUDY, tracking_uri

DEFAULT_UI = "http://127.0.0.1:5000"  # where `make ui` serves a local store
VIEW_KEY = "nas-candidates"
SHARED_VIEW_TAG = "mlflow.sharedViewState."
COLUMNS = (
    ("metrics", "val_miou"),
    ("metrics", "latency_ms"),
    ("metrics", "num_params"),
    ("tags", "nas.state"),
    ("tags", "nas.pareto"),
    ("attributes", "Models"),
    ("attributes", "Dataset"),
    ("attributes", "Source"),
    ("attributes", "User"),
)


def ui_base(uri: str | None = None) -> str:
    """The UI of an http(s) tracking server is the server itself; a local store's is `make ui`."""
    uri = uri or tracking_uri()
    if uri.startswith(("http://", "https://")):
        return redact_url(uri).rstrip("/")
    return DEFAULT_UI


def run_url(experiment_id: str, run_id: str, base: str | None = None) -> str:
    return f"{base or ui_base()}/#/experiments/{experiment_id}/runs/{run_id}"


def candidates_view(study: str) -> dict:
    """Search facets and table state of the view: this study's candidates, best mIoU first."""
    return {
        "searchFilter": f"tags.`{TAG_STUDY}` = '{study}' and tags.`{TAG_KIND}` = 'candidate'",
        "orderByKey": "metrics.`val_miou`",
        "orderByAsc": False,
        "selectedColumns": [f"{kind}.`{name}`" for kind, name in COLUMNS],
    }


def share_candidates_view(client: MlflowClient, experiment_id: str, study: str) -> str:
    """Store the view as the experiment's shared view; returns its key."""
    key = f"{VIEW_KEY}-{study}"
    client.set_experiment_tag(
        experiment_id, f"{SHARED_VIEW_TAG}{key}", json.dumps(candidates_view(study))
    )
    return key


def runs_url(experiment_id: str, view_key: str = "", base: str | None = None) -> str:
    """The experiment's runs table as a model-training experiment (and with a shared view)."""
    query = {"workflowType": "machine_learning"}
    if view_key:
        query["viewStateShareKey"] = view_key
    return f"{base or ui_base()}/#/experiments/{experiment_id}/runs?{urlencode(query)}"
