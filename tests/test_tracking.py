"""What MLflow and Optuna users see of one stub search with promotion: named, typed and tagged
LoggedModels linked to their metrics, child runs with the search's source, user and data set, no
empty or secret params, described registry versions with an input example, the front members
promoted once each and registered with their promoted scores, the study's metric names, the
plots, the UI; and that importing the project leaves MLflow's warnings and logging alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import mlflow
import optuna
import psutil
import pytest
from mlflow.models import Model

from cluster.ports import free_port
from nas.commands.ui import addresses, wait_until_up
from nas.config import load_config
from nas.search.promotion import rank_correlation
from nas.tracking import runs, ui
from tests.test_search import (
    NARROW,
    StubExecutor,
    _child_runs,
    _study,
    searched_in,
    stub_miou,
    tiny_config,
)
from tools import ui_probe

PROMOTE = {"promotion.enabled": "true", "search.study_name": "seen"}


@pytest.fixture(scope="module")
def searched(tmp_path_factory, data_cache) -> dict:
    """One stub search with promotion in a fresh store; its summary and store folder."""
    store = tmp_path_factory.mktemp("tracking")
    config = tiny_config(data_cache, **{**NARROW, **PROMOTE})
    executor = StubExecutor()
    summary, uri = searched_in(store, executor, config)
    return {**summary, "store": store, "uri": uri, "executor": executor, "config": config}


@pytest.fixture
def client(searched) -> mlflow.MlflowClient:
    mlflow.set_tracking_uri(searched["uri"])
    return mlflow.MlflowClient(searched["uri"])


def _runs(client, searched, kind: str) -> list:
    parent = client.get_run(searched["run_id"])
    return client.search_runs(
        [parent.info.experiment_id], f"tags.`nas.kind` = '{kind}'", max_results=1000
    )


def test_logged_models_are_named_typed_tagged_and_linked(client, searched) -> None:
    children = {r.info.run_id: r for r in _runs(client, searched, "candidate")}
    models = mlflow.search_logged_models(
        experiment_ids=[client.get_run(searched["run_id"]).info.experiment_id],
        output_format="list",
    )
    assert models and not any(m.name == "model" for m in models)
    fidelities = set()
    for m in models:
        run = children[m.source_run_id]
        fidelity = int(m.tags["nas.fidelity"])
        fidelities.add(fidelity)
        assert m.name == run.info.run_name + (f"-f{fidelity}" if fidelity else "")
        assert m.model_type == "face-segmentation"
        assert m.tags["nas.archid"] == run.data.tags["nas.archid"]
        assert m.tags["nas.study"] == "seen"
        linked = {x.key: x for x in mlflow.get_logged_model(m.model_id).metrics}
        assert linked["val_miou"].step == fidelity
        assert {"val_miou", "latency_ms", "num_params"} <= set(linked)
        history = client.get_metric_history(run.info.run_id, "val_miou")
        assert linked["val_miou"].value == next(h.value for h in history if h.step == fidelity)
    assert fidelities == {0, 1}  # promoted models are there, named -f1


def test_child_runs_share_the_search_source_user_and_data_set(client, searched) -> None:
    parent = client.get_run(searched["run_id"])
    context = {
        k: v for k, v in parent.data.tags.items() if k.startswith(("mlflow.source.", "mlflow.user"))
    }
    assert {"mlflow.source.name", "mlflow.user"} <= set(context)
    digest = parent.inputs.dataset_inputs[0].dataset.digest
    for child in _runs(client, searched, "candidate"):
        assert {k: child.data.tags.get(k) for k in context} == context
        assert [d.dataset.digest for d in child.inputs.dataset_inputs] == [digest]


def test_parent_params_are_the_values_used(client, searched) -> None:
    parent = client.get_run(searched["run_id"])
    params = parent.data.params
    assert not [k for k, v in params.items() if v == ""]
    assert params["data.dataset_dir"] == "synthetic:n80_s64_seed0"
    assert params["search.storage"] == f"sqlite:///{searched['store'] / 'optuna.db'}"
    assert "nas.git_commit" not in parent.data.tags
    experiment = client.get_experiment(parent.info.experiment_id)
    assert "Pareto front" in experiment.tags["mlflow.note.content"]


def test_settings_hide_passwords_and_name_the_built_in_faces() -> None:
    config = load_config([], {"data.dataset_dir": ""})
    params = runs.setting_params(
        config, "/cache/synthetic/n800_s128_seed0", "postgresql://nas:s3cret@db:5432/optuna"
    )
    assert params["data.dataset_dir"] == "synthetic:n800_s128_seed0"
    assert params["search.storage"] == "postgresql://nas:***@db:5432/optuna"
    assert "" not in params.values()


def test_registry_describes_its_models(client, searched) -> None:
    name = "face-seg-hourglass"
    model = client.get_registered_model(name)
    assert model.description and model.tags["task"] == "semantic segmentation of faces"
    for version in client.search_model_versions(f"name = '{name}'"):
        text = version.description
        assert "input 64 x 64" in text and "19 classes" in text
        assert version.tags["nas.cpu_model"] in text and "promoted training" in text
        assert f"search 'seen' (run {searched['run_id']})" in text
        example = Model.load(f"models:/{name}/{version.version}").saved_input_example_info
        assert example["serving_input_path"] == "serving_input_example.json"


def test_study_names_its_objectives(searched) -> None:
    study = optuna.load_study(
        study_name="seen", storage=f"sqlite:///{searched['store'] / 'optuna.db'}"
    )
    assert study.metric_names == ["val_miou", "latency_ms"]


def test_plots_are_interactive_and_mark_the_registered_models(client, searched) -> None:
    out = searched["store"] / "out"
    page = (out / "pareto_evolution.html").read_text()
    assert "plotly" in page and "plotly_click" in page
    for archid in searched["versions"]:  # every registered model has its hover card
        assert archid in page
    for version in set(searched["aliases"].values()):  # the aliased ones a starred label
        assert f'"v{version} ' in page
    for run in _runs(client, searched, "candidate"):  # their runs' addresses on hover
        if run.data.tags.get("nas.state") == "complete":
            assert run.info.run_id in page
    assert (out / "hypervolume.png").read_bytes()[:4] == b"\x89PNG"


def test_shared_view_opens_the_candidates_as_a_runs_table(client, searched) -> None:
    experiment_id = client.get_run(searched["run_id"]).info.experiment_id
    key = ui.share_candidates_view(client, experiment_id, "seen")
    view = json.loads(client.get_experiment(experiment_id).tags[ui.SHARED_VIEW_TAG + key])
    assert "metrics.`val_miou`" in view["selectedColumns"]
    assert "tags.`nas.pareto`" in view["selectedColumns"]
    assert view["columnOrder"][:2] == ["metrics.`val_miou`", "metrics.`latency_ms`"]
    url = ui.runs_url(experiment_id, key, "http://127.0.0.1:5000")
    assert url == (
        f"http://127.0.0.1:5000/#/experiments/{experiment_id}/runs?"
        f"workflowType=machine_learning&viewStateShareKey={key}"
    )
    run = ui.run_url(experiment_id, searched["run_id"], "http://127.0.0.1:5000")
    assert run.endswith(f"/runs/{searched['run_id']}?workflowType=machine_learning")
    for _, address in addresses("hourglass-nas", "http://127.0.0.1:5000"):
        assert "workflowType=machine_learning" in address  # every printed one: model training


def test_importing_the_project_leaves_mlflow_warnings_and_logging_alone() -> None:
    probe = """
import logging, warnings, mlflow
level = logging.getLogger("mlflow").level
import nas.commands.search, nas.commands.train, nas.commands.select, nas.tracking.search_run
assert logging.getLogger("mlflow").level == level, "mlflow's log level changed"
with warnings.catch_warnings(record=True) as seen:  # MLflow's own warnings still show
    for category in (FutureWarning, UserWarning):
        warnings.warn_explicit("probe", category, "fluent.py", 1, "mlflow.tracking.fluent", {})
assert len(seen) == 2, seen
"""
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=Path(__file__).parent.parent, capture_output=True
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]


def test_front_members_are_promoted_once_and_registered_with_the_higher_score(
    client, searched
) -> None:
    executor, config, summary = searched["executor"], searched["config"], searched
    promotions = [(a, e) for a, seed, e in executor.trainings if seed == 1]
    assert promotions, "the front of every generation is promoted"
    assert len(promotions) == len({a for a, _ in promotions})  # once per archid
    assert {e for _, e in promotions} == {config.partial_training.epochs * 4}
    study = _study(searched["store"], "seen")
    records = {
        k.split(":", 1)[1]: v for k, v in study.user_attrs.items() if k.startswith("promotion:")
    }
    assert set(records) == {a for a, _ in promotions}
    for trial in study.get_trials():  # Optuna keeps the partial (fidelity-0) score
        if trial.user_attrs["nas"]["state"] in ("complete", "duplicate"):
            assert trial.values[0] == pytest.approx(stub_miou(trial.user_attrs["nas"]["archid"]))

    versions = client.search_model_versions("name = 'face-seg-hourglass'")
    assert {v.tags["nas.archid"] for v in versions} <= set(records)
    for v in versions:  # the registry holds promoted models and their promoted scores
        archid = v.tags["nas.archid"]
        assert v.tags["nas.fidelity"] == "1"
        assert float(v.tags["val_miou"]) == pytest.approx(stub_miou(archid, 1), abs=1e-6)
        assert float(v.tags["val_miou_f0"]) == pytest.approx(stub_miou(archid), abs=1e-6)
        assert v.source == records[archid]["model_uri"]
    best = client.get_model_version_by_alias("face-seg-hourglass", "pareto-best-iou")
    assert float(best.tags["val_miou"]) == max(float(v.tags["val_miou"]) for v in versions)

    runs = _child_runs("seen")
    promoted_runs = runs[runs["tags.nas.fidelity"] == "1"]
    assert len(promoted_runs) == len(records)
    run_id = promoted_runs["run_id"].iloc[0]
    steps = [m.step for m in client.get_metric_history(run_id, "val_miou")]
    assert sorted(steps) == [0, 1]
    parent = summary["run_id"]
    assert [m.value for m in client.get_metric_history(parent, "num_promoted")][-1] == len(records)
    if len(records) >= 3:
        history = client.get_metric_history(parent, "proxy_spearman")
        low = [stub_miou(a) for a in records]
        high = [stub_miou(a, 1) for a in records]
        assert history[-1].value == pytest.approx(rank_correlation(low, high))


def test_make_ui_serves_the_candidates_from_one_small_server(searched) -> None:
    """`make ui`'s command prints addresses that open in model-training mode, becomes one web
    worker without MLflow's job runner, and the runs it serves show a source, a user, a data
    set and the models named after them."""
    port = free_port()
    command = [sys.executable, "-m", "entrypoints.ui", "--backend-store-uri", searched["uri"]]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=Path(__file__).parent.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_until_up(base, server)
        below = psutil.Process(server.pid).children(recursive=True)
        assert len(below) <= 1, [p.cmdline() for p in below]  # uvicorn alone: no job runner
        rows = ui_probe.runs_table(base, "hourglass-nas")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        printed = server.communicate(timeout=60)[0]
    addresses = [line.strip() for line in printed.splitlines() if line.startswith("  http")]
    assert len(addresses) == 2, printed
    assert all("workflowType=machine_learning" in address for address in addresses)
    assert not ui_probe.problems(rows)
    promoted = [r for r in rows if len(r["models"]) == 2]
    assert promoted and all(sorted(r["models"]) == [r["name"], f"{r['name']}-f1"] for r in promoted)
