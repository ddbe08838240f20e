"""The `train` command: one chosen architecture trained with Archai's final recipe, tracked in
MLflow and registered."""

from __future__ import annotations

import json
import logging
import re
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import torch

from nas.arch.archjson import arch_json, archid, read_arch, write_arch
from nas.arch.model import StackedHourglass, check_image_size
from nas.arch.profile import count_params
from nas.arch.space import Genome, genome_to_params
from nas.config import Config
from nas.data.dataset import load_data
from nas.data.face_synthetics import Splits
from nas.data.format import LABELS
from nas.errors import UserError
from nas.evaluation.latency import export_checked, measure_onnx_latency
from nas.evaluation.metrics import majority_baseline_miou
from nas.evaluation.targets import Deployment, calibration_sample, onnx_miou
from nas.evaluation.training import FinalTrainResult, final_metrics, train_final
from nas.paths import PROJECT_ROOT
from nas.search.executors import make_executor
from nas.tracking import preflight, registry, runs, ui
from nas.tracking.runs import TAG_ARCHID, TAG_KIND
from nas.tracking.search_run import target_tags

log = logging.getLogger(__name__)
ARCHID = re.compile(r"[0-9a-f]{40}")
TRAINED_ALIAS = "newest"


def _from_registry(uri: str, workdir: Path) -> Path:
    """The architecture file behind `models:/NAME@ALIAS` or `models:/NAME/VERSION`."""
    name, _, ref = uri.removeprefix("models:/").partition("@")
    client = mlflow.MlflowClient()
    try:
        if ref:
            version = client.get_model_version_by_alias(name, ref)
        else:
            name, _, number = name.partition("/")
            version = client.get_model_version(name, number)
    except mlflow.exceptions.MlflowException as err:
        raise UserError(
            f"arch {uri}: no such registered model version in "
            f"{runs.tracking_uri()} ({err.message.splitlines()[0]}). Expected "
            "models:/NAME@ALIAS or models:/NAME/VERSION of a model the search "
            "registered."
        ) from None
    arch = version.tags.get(TAG_ARCHID, "")
    if not ARCHID.fullmatch(arch) or not version.run_id:
        # the tag names a file: a value such as "../x" must not lead outside the work folder
        raise UserError(
            f"arch {uri}: version {version.version} has no run or its '{TAG_ARCHID}' tag "
            f"({arch[:60]!r}) is not an Archai id (40 hexadecimal digits); it was not "
            "registered by this project's search or train."
        )
    return runs.download_version_file(
        version.name,
        version.version,
        lambda: mlflow.artifacts.download_artifacts(
            run_id=version.run_id, artifact_path=f"{arch}.json", dst_path=str(workdir)
        ),
        f"architecture file {arch}.json",
    )


def resolve_arch(arch: str, workdir: Path) -> tuple[Genome, str]:
    """Genome and its source from a file, a name or id in archs/, or a models:/ URI."""
    if arch.startswith("models:/"):
        path = _from_registry(arch, workdir)
        return read_arch(path), arch
    candidates = [
        Path(arch),
        PROJECT_ROOT / "archs" / arch,
        PROJECT_ROOT / "archs" / f"{arch}.json",
    ]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise UserError(
            f"arch {arch!r}: no such file, no archs/{arch}(.json), and not a "
            "models:/ URI. Expected an Archai architecture JSON file, an id of a "
            "file in archs/, or models:/NAME@ALIAS."
        )
    return read_arch(path), str(path)


def _log_history_row(row: dict[str, float]) -> None:
    step = int(row["step"])
    mlflow.log_metrics({k: v for k, v in row.items() if k != "step"}, step=step)
    log.info(
        "step %d (epoch %.2f): train loss %.4f, val loss %.4f, val mIoU %.4f",
        step,
        row["epoch"],
        row["train_loss"],
        row["val_loss"],
        row["val_miou"],
    )


def _write_outputs(
    out: Path,
    genome: Genome,
    model: torch.nn.Module,
    onnx_model: bytes,
    summary: dict[str, Any],
    history: list[dict],
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_arch(genome, out / f"{archid(genome)}.json")
    torch.save(model.state_dict(), out / "model.pt")
    (out / "model.onnx").write_bytes(onnx_model)
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    pd.DataFrame(history).to_csv(out / "history.csv", index=False)


def run(config: Config, arch: str, output_dir: Path) -> dict[str, Any]:
    """Train `arch` with the final recipe, log everything to one MLflow run, register its ONNX
    model; returns a summary."""
    preflight.check_tracking_server(runs.tracking_uri())
    preflight.explain_retries()
    with tempfile.TemporaryDirectory() as download:
        genome, source = resolve_arch(arch, Path(download))
    check_image_size(genome, config.model.image_size, source)
    splits = load_data(config.data, config.model.image_size)
    output_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.final_training.seed)
    model = StackedHourglass(genome, config.model.num_classes)
    aid = archid(genome)
    experiment_id = runs.experiment_for(config.tracking.experiment_name)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"train-{aid[:8]}"):
        log_inputs(config, genome, source, splits)
        result = _train(config, model, splits, output_dir)
        lat = config.latency
        onnx_model, diff = export_checked(
            model, config.model.image_size, lat.opset, lat.exporter, lat.onnx_tolerance
        )
        metrics = {**final_metrics(result, LABELS), "onnx_max_abs_diff": diff}
        summary = {
            "source": source,
            **record_trained(
                config, splits, aid, onnx_model, metrics, result.steps, count_params(model)
            ),
        }
        mlflow.log_artifact(str(output_dir / "best.pt"), "weights")
        _write_outputs(output_dir, genome, model, onnx_model, summary, result.history)
        mlflow.log_artifact(str(output_dir / "history.csv"))
        return summary


def record_trained(
    config: Config,
    splits: Splits,
    aid: str,
    onnx_model: bytes,
    metrics: dict[str, float],
    steps: int,
    num_params: int,
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """In the active run, a trained model's latency (and every deployment target's measures)
    timed here, its final `metrics` logged one step after its last training step `steps`, its
    ONNX model (and INT8 model) logged as LoggedModels linked to them, and the model registered
    under `tracking.trained_model` with `tags` too (without `tags`, aliased `newest`)."""
    lat = config.latency
    latency = measure_onnx_latency(
        onnx_model, config.model.image_size, lat, metrics["onnx_max_abs_diff"]
    )
    targets, int8_model = _measure_targets(config, splits, onnx_model)
    metrics = {
        **metrics,
        "latency_ms": latency.latency_ms,
        "latency_p90_ms": latency.latency_p90_ms,
        "num_params": num_params,
        **targets,
    }
    # the best checkpoint's scores one step after the last training step, where the model is
    # logged: its LoggedModel is linked to exactly these metrics
    final_step = steps + 1
    mlflow.log_metrics(metrics, step=final_step)
    model_uri = runs.log_onnx_model(
        onnx_model,
        config.model.image_size,
        config.model.num_classes,
        name=f"train-{aid[:8]}",
        tags={TAG_ARCHID: aid, TAG_KIND: "train", "nas.epochs": config.final_training.epochs},
        step=final_step,
        example=True,
    )
    if int8_model:  # what the int8 targets deploy
        runs.log_onnx_model(
            int8_model,
            config.model.image_size,
            config.model.num_classes,
            name=f"train-{aid[:8]}-int8",
            tags={TAG_ARCHID: aid, TAG_KIND: "train", "nas.precision": "int8"},
            step=final_step,
        )
    measured = {**metrics, **latency.as_dict()}
    return {
        "archid": aid,
        "model_uri": model_uri,
        "registered_model": config.tracking.trained_model,
        "version": _register(config, model_uri, aid, measured, tags),
        "run_url": ui.run_url(mlflow.active_run().info.experiment_id, run_id()),
        **{k: metrics[k] for k in ("val_miou", "test_miou", "latency_ms")},
    }


def run_id() -> str:
    return mlflow.active_run().info.run_id


def _measure_targets(
    config: Config, splits: Splits, onnx_model: bytes
) -> tuple[dict[str, float], bytes]:
    """Every deployment target's measures of the trained model: its latency as the target
    deploys and runs it, and, for an int8 target, the INT8 model's validation and test mIoU
    through ONNX Runtime; with the INT8 model (b'' where no target deploys one). A target bound
    to a Ray resource is timed on a node that advertises it."""
    if not config.targets:
        return {}, b""
    bound = {name: t for name, t in config.targets.items() if t.resource}
    executor = make_executor(config.search) if bound else None
    try:
        remote = (
            executor.timer(config.model.image_size, config.latency, bound) if executor else None
        )
        sample = calibration_sample(splits.train.images, config.quantization)
        deployment = Deployment(
            dict(config.targets), config.latency, config.quantization,
            config.model.image_size, sample, remote,
        )  # fmt: skip
        models = deployment.models(onnx_model)
        timed = deployment.measure(onnx_model)
    finally:
        if executor is not None:
            executor.close()
    measures, int8 = {}, models.get("int8", b"")
    for name, target in config.targets.items():
        if timed[name].latency is None:
            mlflow.set_tag(f"nas.target_error.{name}", timed[name].error[:5000])
            continue
        mlflow.set_tags(target_tags(name, target, timed[name]))
        measures[f"latency_ms.{name}"] = timed[name].latency.latency_ms
        model = models[target.precision]
        if isinstance(model, bytes):
            for split in ("val", "test"):
                miou = onnx_miou(model, getattr(splits, split), config.model.num_classes)
                measures[f"{split}_miou.{name}"] = miou
    return measures, int8 if isinstance(int8, bytes) else b""


def log_inputs(config: Config, genome: Genome, source: str, splits: Splits) -> None:
    """Tags, the config's model, data and training keys, genes, architecture and data set."""
    aid = archid(genome)
    mlflow.set_tags({TAG_KIND: "train", TAG_ARCHID: aid, "nas.arch_source": source})
    sections = ("model", "data", "final_training")
    settings = {
        f"config.{k}": v
        for k, v in runs.setting_params(config, splits.source).items()
        if k.split(".")[0] in sections
    }
    runs.log_new_params(
        mlflow.MlflowClient(),
        mlflow.active_run().info.run_id,
        {**settings, **genome_to_params(genome), "archid": aid},
    )
    mlflow.log_text(arch_json(genome), f"{aid}.json")
    runs.log_dataset(splits.val.images[:1], splits.source, splits.digest, "train")
    baseline = majority_baseline_miou(np.asarray(splits.val.labels), config.model.num_classes)
    mlflow.log_metric("baseline_val_miou", baseline)


def _train(
    config: Config, model: torch.nn.Module, splits: Splits, output_dir: Path
) -> FinalTrainResult:
    return train_final(
        model,
        splits,
        config.final_training,
        config.model.num_classes,
        output_dir / "best.pt",
        on_validation=_log_history_row,
        class_names=LABELS[: config.model.num_classes],
    )


def _register(
    config: Config,
    model_uri: str,
    aid: str,
    measured: dict[str, Any],
    extra: dict[str, str] | None = None,
) -> str:
    """Register the model with its scores, size, CPU latency and where they were measured (and
    `extra` tags; without them, the alias `newest` points at it)."""
    client = mlflow.MlflowClient()
    name = config.tracking.trained_model
    run_id = mlflow.active_run().info.run_id
    tags = {
        **(extra or {}),
        TAG_ARCHID: aid,
        "val_miou": f"{measured['val_miou']:.6f}",
        "test_miou": f"{measured['test_miou']:.6f}",
        "latency_ms": f"{measured['latency_ms']:.4f}",
        "latency_p90_ms": f"{measured['latency_p90_ms']:.4f}",
        "num_params": measured["num_params"],
        "nas.train_run_id": run_id,
        "nas.image_size": config.model.image_size,
        "nas.num_classes": config.model.num_classes,
        "nas.cpu_model": measured["cpu_model"],
        "nas.ort_version": measured["ort_version"],
        "nas.latency_threads": measured["latency_threads"],
        **{key: f"{value:.6f}" for key, value in measured.items() if "." in key},  # targets
    }
    final = config.final_training
    miou_at = (
        f"after the full training ({final.epochs:g} epochs, best checkpoint by validation loss; "
        f"test mIoU {measured['test_miou']:.4f})"
    )
    found = f"trained by run {run_id}" + (f" from {extra['nas.source']}" if extra else "")
    description = registry.describe_version(tags, miou_at, found)
    version = registry.register_version(client, model_uri, name, tags, description)
    if extra is None:
        registry.set_aliases(client, name, {TRAINED_ALIAS: version})
    return version
