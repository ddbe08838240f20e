"""End to end through `mlflow run`: search on a tiny config (Ray), then train a registered model,
then load both registered models in fresh processes and segment an image; select a model by
budget; serve one and call it as the README shows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import requests

from cluster.ports import free_port
from tests.conftest import ROOT, sqlite_store, subprocess_env

TINY = ROOT / "confs" / "tiny.yaml"
SEGMENT = """
import sys, numpy as np, mlflow
from PIL import Image
image = Image.open(sys.argv[2]).convert("RGB").resize((64, 64), Image.BILINEAR)
batch = (np.asarray(image, np.float32) / 255.0).transpose(2, 0, 1)[None]
logits = mlflow.pyfunc.load_model(sys.argv[1]).predict(batch)["logits"]
labels = logits.argmax(1)
assert labels.shape == (1, 64, 64) and 0 <= labels.min() and labels.max() <= 18
print("segmented", sorted(set(labels.ravel().tolist())))
"""


def _env(tmp: Path) -> dict[str, str]:
    """The store in `tmp`; the venv's bin first on PATH, as `mlflow run` and `serve` need."""
    return subprocess_env(
        MLFLOW_TRACKING_URI=sqlite_store(tmp),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    )


def _mlflow_run(tmp: Path, entry: str, params: dict[str, str]) -> subprocess.CompletedProcess:
    env = _env(tmp)
    command = [
        str(Path(sys.executable).parent / "mlflow"),
        "run",
        str(ROOT),
        "-e",
        entry,
        "--env-manager",
        "local",
        "--experiment-name",
        "smoke",
    ]
    for key, value in params.items():
        command += ["-P", f"{key}={value}"]
    return subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True, timeout=400)


def _segment(tmp: Path, model_uri: str, image: Path) -> str:
    env = subprocess_env(MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'mlflow.db'}")
    proc = subprocess.run(
        [sys.executable, "-c", SEGMENT, model_uri, str(image)],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture(scope="module")
def searched(tmp_path_factory, data_cache) -> Path:
    tmp = tmp_path_factory.mktemp("smoke")
    proc = _mlflow_run(
        tmp,
        "search",
        {
            "search_config": str(TINY),
            "output_dir": str(tmp / "out"),
            "data.cache_dir": str(data_cache),
        },
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return tmp


def test_search_parent_and_child_runs(searched: Path) -> None:
    mlflow.set_tracking_uri(f"sqlite:///{searched / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["smoke"])
    parent = runs[runs["tags.nas.kind"] == "search"]
    assert len(parent) == 1 and parent["status"].iloc[0] == "FINISHED"
    assert parent["params.search.population_size"].iloc[0] == "4"
    assert parent["params.data.digest"].iloc[0]
    params = [c for c in runs if c.startswith("params.")]
    assert not (parent[params] == "").any(axis=None)  # unset MLproject parameters are not logged
    assert "params.seed" not in parent or parent["params.seed"].isna().all()
    assert parent["params.data.dataset_dir"].iloc[0].startswith("synthetic:")
    children = runs[runs["tags.nas.kind"] == "candidate"]
    assert len(children) == 8
    assert set(children["tags.mlflow.parentRunId"]) == {parent["run_id"].iloc[0]}
    for tag in ("mlflow.source.name", "mlflow.source.type", "mlflow.user"):
        assert set(children[f"tags.{tag}"]) == set(parent[f"tags.{tag}"]), tag
    assert children["tags.mlflow.runName"].str.match(r"g0[01]-[0-9a-f]{8}").all()
    trained = children[children["tags.nas.state"] == "complete"]
    assert trained["metrics.val_miou"].between(0, 1).all()
    assert (trained["metrics.latency_ms"] > 0).all() and (trained["metrics.num_params"] > 0).all()
    assert "params.hg0.down0.op0" in children and "metrics.val_iou_skin" in children
    assert set(children["tags.nas.pareto"]) <= {"true", "false"}
    client = mlflow.MlflowClient()
    hv = client.get_metric_history(parent["run_id"].iloc[0], "hypervolume")
    assert [m.step for m in hv] == [0, 1]


def test_search_files(searched: Path) -> None:
    out = searched / "out"
    state = pd.read_csv(out / "search_state_1.csv")
    assert len(state) == 8
    assert {"archid", "val_miou", "latency_ms", "iteration_num", "is_pareto"} <= set(state.columns)
    front = set(state.loc[state["is_pareto"], "archid"])
    assert {p.stem for p in (out / "pareto_models_iter_1").glob("*.json")} == front
    assert (out / "pareto_evolution.png").read_bytes()[:4] == b"\x89PNG"
    assert "plotly" in (out / "pareto_evolution.html").read_text()


def test_registered_front_loads_and_segments(searched: Path, data_cache: Path) -> None:
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{searched / 'mlflow.db'}")
    versions = client.search_model_versions("name = 'face-seg-hourglass'")
    assert versions and all(v.tags["nas.study"] == "tiny" for v in versions)
    for alias in ("pareto-best-iou", "pareto-fastest", "pareto-knee"):
        assert client.get_model_version_by_alias("face-seg-hourglass", alias).version
    image = next(data_cache.glob("synthetic/*/000000.png"))
    assert "segmented" in _segment(searched, "models:/face-seg-hourglass@pareto-best-iou", image)


def test_train_a_registered_model(searched: Path, data_cache: Path) -> None:
    proc = _mlflow_run(
        searched,
        "train",
        {
            "arch": "models:/face-seg-hourglass@pareto-knee",
            "config": str(TINY),
            "epochs": "1",
            "output_dir": str(searched / "train"),
            "final_training.val_per_epoch": "2",
            "data.cache_dir": str(data_cache),
            "targets.int8.precision": "int8",  # re-measured for the trained model
        },
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert {"model.onnx", "model.pt", "metrics.json", "history.csv"} <= {
        p.name for p in (searched / "train").iterdir()
    }
    mlflow.set_tracking_uri(f"sqlite:///{searched / 'mlflow.db'}")
    run = mlflow.search_runs(experiment_names=["smoke"], filter_string="tags.`nas.kind` = 'train'")
    assert len(run) == 1 and 0 <= run["metrics.test_miou"].iloc[0] <= 1
    for key in ("latency_ms.int8", "val_miou.int8", "test_miou.int8"):
        assert run[f"metrics.{key}"].iloc[0] > 0, key
    history = mlflow.MlflowClient().get_metric_history(run["run_id"].iloc[0], "val_miou")
    steps = sorted(m.step for m in history)
    assert len(steps) >= 3 and steps[0] < steps[-1]
    image = next(data_cache.glob("synthetic/*/000001.png"))
    assert "segmented" in _segment(searched, "models:/face-seg-hourglass-trained@newest", image)
    # its LoggedModel is named, and linked to the best checkpoint's final scores
    outputs = mlflow.get_run(run["run_id"].iloc[0]).outputs.model_outputs
    models = {mlflow.get_logged_model(o.model_id).name: o.model_id for o in outputs}
    name = run["tags.mlflow.runName"].iloc[0]
    assert set(models) == {name, f"{name}-int8"}  # the trained model and its INT8 copy
    model_id = models[name]
    model = mlflow.get_logged_model(model_id)
    linked = {m.key: m.value for m in model.metrics}
    assert linked["test_miou"] == run["metrics.test_miou"].iloc[0]
    assert linked["val_miou"] == run["metrics.val_miou"].iloc[0]
    assert mlflow.models.Model.load(f"models:/{model_id}").saved_input_example_info


def test_select_through_mlflow_run(searched: Path) -> None:
    proc = _mlflow_run(searched, "select", {"max_latency_ms": "1000", "alias": "chosen"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "models:/face-seg-hourglass/" in proc.stdout
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{searched / 'mlflow.db'}")
    chosen = client.get_model_version_by_alias("face-seg-hourglass", "chosen")
    best = max(
        client.search_model_versions("name = 'face-seg-hourglass'"),
        key=lambda v: float(v.tags["val_miou"]),
    )
    assert chosen.version == best.version


def test_serve_and_call_a_registered_model(searched: Path, tmp_path: Path) -> None:
    """The README's `mlflow models serve` and `curl` example."""
    env, uri, port = _env(searched), "models:/face-seg-hourglass@pareto-knee", free_port()
    mlflow_cli = str(Path(sys.executable).parent / "mlflow")
    download = [mlflow_cli, "artifacts", "download", "-u", f"{uri}/serving_input_example.json"]
    subprocess.run([*download, "-d", str(tmp_path)], env=env, cwd=searched, check=True)
    serve = [mlflow_cli, "models", "serve", "-m", uri, "--env-manager", "local"]
    server = subprocess.Popen(  # its own process group: serve starts uvicorn as a child
        [*serve, "-h", "127.0.0.1", "-p", str(port)], env=env, cwd=searched, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while server.poll() is None and time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/ping", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.5)
        answer = requests.post(
            f"http://127.0.0.1:{port}/invocations",
            data=(tmp_path / "serving_input_example.json").read_bytes(),
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert answer.ok, answer.text[:500]
    logits = answer.json()["predictions"]["logits"]
    assert (len(logits), len(logits[0]), len(logits[0][0])) == (1, 19, 64)
