"""Addresses in the MLflow UI, every one opened in model-training mode: a run's page, and an
experiment's runs table with the search's columns.

MLflow 3.17's UI ignores the experiment tag `mlflow.experimentKind`: it shows every page as the
browser's workflow switch says (GenAI, its first choice, opens an experiment on "Overview" and a
run among "Evaluations"), and the URL parameter `workflowType=machine_learning` overrides that on
any page. The columns a runs table shows live in the browser too, except for a view shared
through the URL: `viewStateShareKey=KEY` loads the experiment tag `mlflow.sharedViewState.KEY`, a
JSON object of search facets (filter, order) and table state (`selectedColumns`, `columnOrder`,
`columnWidths`), which this module writes.
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
MODEL_TRAINING = {"workflowType": "machine_learning"}
COLUMNS = (  # in this order, from the left: the objectives first
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
    query = urlencode(MODEL_TRAINING)
    return f"{base or ui_base()}/#/experiments/{experiment_id}/runs/{run_id}?{query}"


def candidates_view(study: str) -> dict:
    """Search facets and table state of the view: this study's candidates, best mIoU first,
    the objectives in the first columns, wide enough for their values."""
    columns = [f"{kind}.`{name}`" for kind, name in COLUMNS]
    return {
        "searchFilter": f"tags.`{TAG_STUDY}` = '{study}' and tags.`{TAG_KIND}` = 'candidate'",
        "orderByKey": "metrics.`val_miou`",
        "orderByAsc": False,
        "selectedColumns": columns,
        "columnOrder": columns,
        "columnWidths": {column: 120 for column in columns if column.startswith("metrics.")},
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
    query = dict(MODEL_TRAINING)
    if view_key:
        query["viewStateShareKey"] = view_key
    return f"{base or ui_base()}/#/experiments/{experiment_id}/runs?{urlencode(query)}"
