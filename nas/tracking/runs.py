"""MLflow helpers: experiments, batched params and metrics, data set inputs, ONNX models, stale
runs, tags and the tracking URI (registry versions and aliases: nas.tracking.registry)."""

from __future__ import annotations

import logging
import os
import subprocess
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import onnx
from mlflow import MlflowClient
from mlflow.entities import RunStatus
from mlflow.models.signature import ModelSignature
from mlflow.types import Schema, TensorSpec

from nas.evaluation.tensor_names import INPUT_NAME, OUTPUT_NAME
from nas.paths import sqlite_file

TAG_STUDY = "nas.study"
TAG_KIND = "nas.kind"
TAG_ARCHID = "nas.archid"
MAX_PARAMS_PER_BATCH = 100
EXPERIMENT_KIND = "mlflow.experimentKind"

logging.getLogger("mlflow").setLevel(logging.WARNING)
warnings.filterwarnings("ignore", module="mlflow")


def init_experiment(name: str) -> str:
    """Select (creating if needed) the experiment; the first call creates or migrates the store.
    With a SQLite store, a new experiment keeps its artifacts in mlruns/ beside the database
    (MLflow's own default is ./mlruns under whatever folder the command runs in)."""
    if mlflow.get_experiment_by_name(name) is None:
        store = sqlite_file(tracking_uri())
        location = (store.parent / "mlruns").as_uri() if store is not None else None
        mlflow.create_experiment(name, artifact_location=location)
    return mlflow.set_experiment(name).experiment_id


def experiment_for(name: str) -> str:
    """`mlflow run` hands us its run (MLFLOW_RUN_ID): use that run's experiment; else `name`.
    The experiment is marked as model training, so the MLflow UI opens on its runs."""
    run_id = os.environ.get("MLFLOW_RUN_ID")
    client = MlflowClient()
    experiment_id = client.get_run(run_id).info.experiment_id if run_id else init_experiment(name)
    if EXPERIMENT_KIND not in client.get_experiment(experiment_id).tags:
        client.set_experiment_tag(experiment_id, EXPERIMENT_KIND, "custom_model_development")
    return experiment_id


def log_dataset(sample: np.ndarray, source: str, digest: str, context: str) -> None:
    """Record the data set (folder and content digest) as an input of the active run."""
    with warnings.catch_warnings():  # MLflow finds two equal sources for a local path
        warnings.simplefilter("ignore")
        dataset = mlflow.data.from_numpy(
            sample, source=source, name=Path(source).name, digest=digest[:32]
        )
        mlflow.log_input(dataset, context=context)


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
    except OSError:
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def log_params(client: MlflowClient, run_id: str, params: dict[str, Any]) -> None:
    """Log many params in batches (the store caps one batch)."""
    items = [mlflow.entities.Param(k, str(v)[:6000]) for k, v in params.items()]
    for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
        client.log_batch(run_id, params=items[i : i + MAX_PARAMS_PER_BATCH])


def log_metrics(
    client: MlflowClient, run_id: str, metrics: dict[str, float], step: int = 0
) -> None:
    now_ms = int(time.time() * 1000)
    items = [
        mlflow.entities.Metric(k, float(v), now_ms, step)
        for k, v in metrics.items()
        if v is not None and np.isfinite(v)
    ]
    for i in range(0, len(items), 500):
        client.log_batch(run_id, metrics=items[i : i + 500])


def onnx_signature(image_size: int, num_classes: int) -> ModelSignature:
    """Input 'image' float32 (N,3,S,S) in [0, 1]; output 'logits' float32 (N,C,S,S)."""
    inputs = Schema([TensorSpec(np.dtype(np.float32), (-1, 3, image_size, image_size), INPUT_NAME)])
    outputs = Schema(
        [TensorSpec(np.dtype(np.float32), (-1, num_classes, image_size, image_size), OUTPUT_NAME)]
    )
    return ModelSignature(inputs=inputs, outputs=outputs)


def onnx_requirements() -> list[str]:
    """What serving the ONNX model needs; given explicitly, because MLflow's inference of it
    starts a subprocess that costs about 2.5 s per model here."""
    import onnxruntime

    return [
        f"mlflow=={mlflow.__version__}",
        f"onnx=={onnx.__version__}",
        f"onnxruntime=={onnxruntime.__version__}",
        f"numpy=={np.__version__}",
    ]


def log_onnx_model(
    onnx_model: bytes, image_size: int, num_classes: int, name: str = "model"
) -> str:
    """Log an ONNX model (CPU provider, signature) to the active run; returns its model URI."""
    info = mlflow.onnx.log_model(
        onnx.load_from_string(onnx_model),
        name=name,
        signature=onnx_signature(image_size, num_classes),
        onnx_execution_providers=["CPUExecutionProvider"],
        save_as_external_data=False,
        pip_requirements=onnx_requirements(),
    )
    return info.model_uri


def log_files(
    client: MlflowClient, run_id: str, paths: Iterable[Path], artifact_dir: str = ""
) -> None:
    for path in paths:
        if path.is_dir():
            client.log_artifacts(run_id, str(path), f"{artifact_dir}/{path.name}".strip("/"))
        else:
            client.log_artifact(run_id, str(path), artifact_dir or None)


def close_stale_runs(
    client: MlflowClient, experiment_id: str, study: str, keep_run_id: str
) -> list[str]:
    """Runs of this study left RUNNING by a dead process are marked KILLED; returns their ids."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{TAG_STUDY}` = '{study}' and attributes.status = 'RUNNING'",
        max_results=5000,
    )
    stale = [r.info.run_id for r in runs if r.info.run_id != keep_run_id]
    for run_id in stale:
        client.set_tag(run_id, "nas.closed_by", keep_run_id)
        client.set_terminated(run_id, RunStatus.to_string(RunStatus.KILLED))
    return stale


def now() -> float:
    return time.time()


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or mlflow.get_tracking_uri()
