"""MLflow helpers: experiments, params and metrics, data set inputs, ONNX models with their
signature and example, a child run's context, stale runs and the tracking URI (registry versions
and aliases: nas.tracking.registry)."""

from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import onnx
from mlflow import MlflowClient
from mlflow.entities import DatasetInput, Metric, Param, RunStatus
from mlflow.models import Model
from mlflow.models.signature import ModelSignature
from mlflow.types import Schema, TensorSpec

from nas.config import Config, flatten_config
from nas.errors import UserError
from nas.evaluation.tensor_names import INPUT_NAME, OUTPUT_NAME
from nas.paths import sqlite_creation_lock, sqlite_file
from nas.redact import redact_url

TAG_STUDY = "nas.study"
TAG_KIND = "nas.kind"
TAG_ARCHID = "nas.archid"
EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_NOTE = "mlflow.note.content"  # the experiment's description in the UI
MODEL_TYPE = "face-segmentation"  # every LoggedModel's model_type
# What a child run shares with the search that made it: where the code came from, and who ran it.
CONTEXT_TAGS = ("mlflow.user", "mlflow.source.", "mlflow.project.", "mlflow.gitRepoURL")
DESCRIPTION = """Hardware-aware neural architecture search for face segmentation (hourglass-nas).

Each search is one parent run (its config, data set, per-generation hypervolume and Pareto
plots); its child runs are the candidates, one per architecture, with `val_miou`,
`latency_ms` (ONNX Runtime, CPU) and `num_params`, and the trained ONNX model as a logged
model named after the run. The Pareto front is registered in the Model Registry with the
aliases `pareto-best-iou`, `pareto-fastest` and `pareto-knee`; `train` runs train one
architecture fully."""


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
    The experiment is marked as model training (the UI of MLflow before 3.5 then opens on its runs;
    later ones follow the browser's workflow switch, see nas.tracking.ui) and described."""
    run_id = os.environ.get("MLFLOW_RUN_ID")
    with sqlite_creation_lock(tracking_uri()):  # commands started together make it once
        client = MlflowClient()
        experiment_id = (
            client.get_run(run_id).info.experiment_id if run_id else init_experiment(name)
        )
        tags = client.get_experiment(experiment_id).tags
        if EXPERIMENT_KIND not in tags:
            client.set_experiment_tag(experiment_id, EXPERIMENT_KIND, "custom_model_development")
        if EXPERIMENT_NOTE not in tags:  # a description someone wrote in the UI is kept
            client.set_experiment_tag(experiment_id, EXPERIMENT_NOTE, DESCRIPTION)
    return experiment_id


def log_dataset(sample: np.ndarray, source: str, digest: str, context: str) -> None:
    """Record the data set (folder and content digest) as an input of the active run."""
    with warnings.catch_warnings():  # MLflow finds two equal sources for a local path
        warnings.simplefilter("ignore")
        dataset = mlflow.data.from_numpy(
            sample, source=source, name=Path(source).name, digest=digest[:32]
        )
        mlflow.log_input(dataset, context=context)


def setting_params(config: Config, data_source: str, storage: str = "") -> dict[str, Any]:
    """The config as run params, each the value actually used: the data set folder (the built-in
    faces as synthetic:<folder name>) and, given `storage`, the study's storage URL without its
    password."""
    params = flatten_config(config)
    params["data.dataset_dir"] = config.data.dataset_dir or f"synthetic:{Path(data_source).name}"
    if storage:
        params["search.storage"] = redact_url(storage)
    return params


def log_params(client: MlflowClient, run_id: str, params: dict[str, Any]) -> None:
    """Log params in one call (MlflowClient.log_batch splits what the store cannot take at once)."""
    client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])


def log_new_params(client: MlflowClient, run_id: str, params: dict[str, Any]) -> None:
    """Log the params the run does not hold yet: `mlflow run` logs each -P value first, as the
    user wrote it (`-P search.objectives=[a,b]`), and a param's value cannot change."""
    held = client.get_run(run_id).data.params
    log_params(client, run_id, {k: v for k, v in params.items() if k not in held})


def log_metrics(
    client: MlflowClient, run_id: str, metrics: dict[str, float], step: int = 0
) -> None:
    """Log the finite metrics at `step` in one call, to 6 significant digits (more than any of
    them is measured to; MLflow's tables show a value's every digit)."""
    now_ms = int(time.time() * 1000)
    items = [
        Metric(k, float(f"{float(v):.6g}"), now_ms, step)
        for k, v in metrics.items()
        if v is not None and np.isfinite(v)
    ]
    client.log_batch(run_id, metrics=items)


def onnx_signature(image_size: int, num_classes: int) -> ModelSignature:
    """Input 'image' float32 (N,3,S,S) in [0, 1]; output 'logits' float32 (N,C,S,S)."""
    inputs = Schema([TensorSpec(np.dtype(np.float32), (-1, 3, image_size, image_size), INPUT_NAME)])
    outputs = Schema(
        [TensorSpec(np.dtype(np.float32), (-1, num_classes, image_size, image_size), OUTPUT_NAME)]
    )
    return ModelSignature(inputs=inputs, outputs=outputs)


def onnx_requirements() -> list[str]:
    """What serving the ONNX model needs; given explicitly, because MLflow's inference of it
    starts a subprocess for every model logged."""
    import onnxruntime

    return [
        f"mlflow=={mlflow.__version__}",
        f"onnx=={onnx.__version__}",
        f"onnxruntime=={onnxruntime.__version__}",
        f"numpy=={np.__version__}",
    ]


def example_image(image_size: int) -> np.ndarray:
    """A request the model accepts: one grey image, 1 x 3 x S x S (its JSON takes a few bytes a
    value: hundreds of kB at the usual sizes)."""
    return np.full((1, 3, image_size, image_size), 0.5, np.float32)


def log_onnx_model(
    onnx_model: bytes,
    image_size: int,
    num_classes: int,
    name: str = "model",
    tags: dict[str, Any] | None = None,
    step: int = 0,
    example: bool = False,
) -> str:
    """Log an ONNX model (CPU provider, signature; with `example`, an input example) to the
    active run as the LoggedModel `name`, linked to the run's metrics at `step`; returns its
    model URI."""
    info = mlflow.onnx.log_model(
        onnx.load_from_string(onnx_model),
        name=name,
        model_type=MODEL_TYPE,
        tags=tags,
        step=step,
        signature=onnx_signature(image_size, num_classes),
        input_example=example_image(image_size) if example else None,
        onnx_execution_providers=["CPUExecutionProvider"],
        save_as_external_data=False,
        pip_requirements=onnx_requirements(),
    )
    return info.model_uri


def add_input_example(client: MlflowClient, model_uri: str, image_size: int) -> None:
    """Give a logged model an input example afterwards, in the files and MLmodel entry that
    `input_example=` writes. The search does this only for the models it registers: an example
    at 256 x 256 weighs about as much as the model, and most candidates are never served."""
    model_id = model_uri.removeprefix("models:/")
    model = Model.load(model_uri)
    if model.saved_input_example_info:
        return
    values = example_image(image_size).tolist()
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "input_example.json").write_text(json.dumps(values))
        Path(tmp, "serving_input_example.json").write_text(json.dumps({"inputs": values}))
        model.saved_input_example_info = {
            "artifact_path": "input_example.json",
            "serving_input_path": "serving_input_example.json",
            "type": "ndarray",
        }
        model.save(str(Path(tmp, "MLmodel")))
        client.log_model_artifacts(model_id, tmp)


def run_context(client: MlflowClient, run_id: str) -> tuple[dict[str, str], list[DatasetInput]]:
    """The source and user tags and the data set inputs of a run, for its child runs."""
    run = client.get_run(run_id)
    tags = {k: v for k, v in run.data.tags.items() if k.startswith(CONTEXT_TAGS)}
    return tags, list(run.inputs.dataset_inputs) if run.inputs else []


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


def download_version_file(
    name: str, version: str, download: Callable[[], str], what: str, inside: str = ""
) -> Path:
    """The file `inside` the folder that `download()` (an MLflow artifact download of
    registered version `name` `version`) returns, or that path itself. An artifact missing from
    the store (deleted from `mlruns/` or the bucket: MLflow then returns an empty folder) is a
    UserError that names the version and what was fetched."""
    try:
        path = Path(download())
        problem = "" if (path / inside).is_file() else "not in the artifact store"
    except (OSError, mlflow.exceptions.MlflowException) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        problem = f"{type(err).__name__}: {first[:300]}"
    if problem:
        raise UserError(
            f"registered model {name} version {version}: its {what} cannot be read from the "
            f"artifact store of {redact_url(tracking_uri())} ({problem}). Its files were "
            "deleted or the store is not reachable from here; expected the version's "
            "artifacts as the search or train logged them. Pick another version or register "
            "the model again."
        ) from None
    return path / inside
