"""One candidate's evaluation as a pure function: partial training, then the trained ONNX model;
or, for a job whose training is the final recipe, the final training of a chosen architecture.
Runs in a Ray worker or in the driver; it never touches MLflow or Optuna."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import socket
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from nas.arch.archjson import parse_arch
from nas.arch.model import StackedHourglass
from nas.config import Config, DataConfig, FinalTrainingConfig, QuantizationConfig, TrainingConfig
from nas.data.dataset import load_data
from nas.data.face_synthetics import Splits
from nas.data.format import LABELS, DataError
from nas.evaluation.latency import export_checked
from nas.evaluation.targets import calibration_sample, onnx_miou, quantize_int8
from nas.evaluation.training import final_metrics, train_final, train_partial


@dataclass(frozen=True)
class JobTemplate:
    """What every candidate's Job of one search shares. It unpacks like a mapping of its fields,
    so `Job(trial_number=..., archid=..., arch_json=..., **template)` builds one as well."""

    data: DataConfig  # how each machine finds or makes the data (see nas.data.dataset)
    fingerprint: str  # the driver's data set fingerprint: a worker's copy must match it
    split_sizes: tuple[int, int, int]  # train, val, test
    image_size: int
    num_classes: int
    training: TrainingConfig
    opset: int
    exporter: str
    onnx_tolerance: float
    quantization: QuantizationConfig | None  # given: also the INT8 model and its mIoU

    def keys(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self)]

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def job(self, trial_number: int, archid: str, arch_json: str) -> Job:
        """The Job of one candidate."""
        return Job(trial_number=trial_number, archid=archid, arch_json=arch_json, **self)


@dataclass(frozen=True)
class Job(JobTemplate):
    """Everything a worker needs to score one candidate; plain data, cheap to ship."""

    trial_number: int
    archid: str
    arch_json: str


def job_template(config: Config, splits: Splits) -> JobTemplate:
    """The Job fields shared by every candidate of a search: the data, the partial training
    (with `search.cpus_per_job` torch threads unless set) and the ONNX export settings."""
    training = config.partial_training
    if training.num_threads == 0:
        training = dataclasses.replace(training, num_threads=config.search.cpus_per_job)
    data = config.data
    if data.dataset_dir:
        data = dataclasses.replace(data, dataset_dir=splits.source)  # absolute
    return JobTemplate(
        data=dataclasses.replace(data, cache_dir=str(Path(data.cache_dir).resolve())),
        fingerprint=splits.fingerprint,
        split_sizes=(len(splits.train.ids), len(splits.val.ids), len(splits.test.ids)),
        image_size=config.model.image_size,
        num_classes=config.model.num_classes,
        training=training,
        opset=config.latency.opset,
        exporter=config.latency.exporter,
        onnx_tolerance=config.latency.onnx_tolerance,
        quantization=config.quantization if int8_targets(config) else None,
    )


def target_scores(config: Config, outcome: Outcome) -> dict[str, float]:
    """`val_miou.T` of every deployment target T whose model the outcome scored: the network's
    own mIoU for an FP32 target, the INT8 model's (through ONNX Runtime) for an int8 one."""
    scores = {}
    for name, target in config.targets.items():
        key = "val_miou" if target.precision == "fp32" else "val_miou_int8"
        if key in outcome.metrics:
            scores[f"val_miou.{name}"] = outcome.metrics[key]
    return scores


def int8_targets(config: Config) -> list[str]:
    """The deployment targets that deploy the INT8 model."""
    return [name for name, t in config.targets.items() if t.precision == "int8"]


@dataclass
class Outcome:
    """A job's result; `ok` is False with `error` set when the candidate failed."""

    trial_number: int
    archid: str
    ok: bool
    error: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    per_class_iou: list[float] = field(default_factory=list)
    onnx_model: bytes = b""
    int8_model: bytes = b""  # the trained model quantized to INT8, where the job asks for it
    int8_error: str = ""  # why it could not be quantized or scored (the candidate is not failed)
    weights: bytes = b""  # a final training's best checkpoint (torch state_dict)
    history: list[dict[str, float]] = field(default_factory=list)  # a final training's validations
    worker: str = ""  # host:pid of the process that ran the job
    node: str = ""  # the Ray node id, where Ray ran it
    data_error: bool = False  # the data set was missing or different on the worker's machine


def init_seed(archid: str) -> int:
    """The weight-initialisation seed of an architecture: fixed per archid, so that a score
    depends on the architecture and the training seed (the batch order), not on which trial or
    worker trained it, and two seeds differ by their data order alone."""
    return int(hashlib.sha256(archid.encode()).hexdigest()[:15], 16)


def load_job_data(job: Job) -> Splits:
    """The job's splits on this machine (its own cache; the built-in faces made here if need
    be); DataError when they are missing or differ from the driver's."""
    splits = load_data(job.data, job.image_size)
    sizes = (len(splits.train.ids), len(splits.val.ids), len(splits.test.ids))
    if splits.fingerprint != job.fingerprint or sizes != tuple(job.split_sizes):
        raise DataError(
            f"the data set at {splits.source} on {socket.gethostname()} differs from the "
            f"driver's (fingerprint {splits.fingerprint[:12]} vs {job.fingerprint[:12]}, splits "
            f"{sizes} vs {tuple(job.split_sizes)}); every machine needs the same files at "
            "data.dataset_dir."
        )
    return splits


def _int8(job: Job, splits: Splits, onnx_model: bytes) -> tuple[dict[str, float], bytes, str]:
    """The trained model quantized to INT8 (calibrated on the job's seeded sample of training
    images) and its validation mIoU through ONNX Runtime; a failure is kept as the reason."""
    assert job.quantization is not None
    started = time.perf_counter()
    try:
        sample = calibration_sample(splits.train.images, job.quantization)
        int8_model = quantize_int8(onnx_model, sample, job.quantization)
        miou = onnx_miou(int8_model, splits.val, job.num_classes)
    except Exception as err:  # noqa: BLE001 - the INT8 model's failure is not the candidate's
        return {}, b"", f"{type(err).__name__}: {(str(err) or '?').splitlines()[0]}"
    seconds = time.perf_counter() - started
    return {"val_miou_int8": miou, "quantize_seconds": seconds}, int8_model, ""


@dataclass
class _Trained:
    """What a job's training gives, before its outcome is made."""

    metrics: dict[str, float]
    per_class_iou: list[float]
    onnx_model: bytes
    splits: Splits
    weights: bytes = b""
    history: list[dict[str, float]] = field(default_factory=list)


def _train(job: Job) -> _Trained:
    splits = load_job_data(job)
    if isinstance(job.training, FinalTrainingConfig):
        return _train_final(job, splits)
    genome = parse_arch(json.loads(job.arch_json), f"candidate {job.archid}")
    torch.manual_seed(init_seed(job.archid))
    model = StackedHourglass(genome, job.num_classes)
    result = train_partial(model, splits, job.training, job.num_classes)
    if not math.isfinite(result.miou):
        raise RuntimeError(f"validation mIoU is {result.miou}")
    metrics = {
        "val_miou": result.miou,
        "val_loss": result.val_loss,
        "train_loss": result.train_loss,
        "train_steps": float(result.steps),
        "train_seconds": result.train_seconds,
        "train_samples_per_second": result.samples_per_second,
        "data_wait_seconds": result.data_wait_seconds,
    }
    onnx_model, metrics["onnx_max_abs_diff"] = export_checked(
        model, job.image_size, job.opset, job.exporter, job.onnx_tolerance
    )
    return _Trained(metrics, result.per_class_iou, onnx_model, splits)


def _train_final(job: Job, splits: Splits) -> _Trained:
    """The final recipe, as `train` runs it for one architecture (weights seeded by the
    recipe's seed): the best checkpoint's metrics and ONNX model, the checkpoint itself and
    the validation history."""
    assert isinstance(job.training, FinalTrainingConfig)
    genome = parse_arch(json.loads(job.arch_json), f"architecture {job.archid}")
    torch.manual_seed(job.training.seed)
    model = StackedHourglass(genome, job.num_classes)
    names = LABELS[: job.num_classes]
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "best.pt"
        result = train_final(model, splits, job.training, job.num_classes, checkpoint, None, names)
        weights = checkpoint.read_bytes()
    metrics = final_metrics(result, names)
    onnx_model, metrics["onnx_max_abs_diff"] = export_checked(
        model, job.image_size, job.opset, job.exporter, job.onnx_tolerance
    )
    return _Trained(metrics, result.val_per_class_iou, onnx_model, splits, weights, result.history)


def evaluate_job(job: Job) -> Outcome:
    """Train the candidate and export it; any exception (NaN loss, out of memory, ...) becomes
    a failed Outcome carrying the error and its traceback."""
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        trained = _train(job)
    except DataError as err:  # the machine's data, not the candidate, is at fault
        return Outcome(
            job.trial_number, job.archid, False, f"DataError: {err}", worker=worker, data_error=True
        )
    except Exception as err:  # noqa: BLE001 - a candidate's failure must not stop the search
        text = "".join(traceback.format_exception(err)[-8:])
        return Outcome(
            job.trial_number,
            job.archid,
            False,
            f"{type(err).__name__}: {err}\n{text}",
            worker=worker,
        )
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    int8_metrics, int8_model, int8_error = (
        _int8(job, trained.splits, trained.onnx_model) if job.quantization else ({}, b"", "")
    )
    return Outcome(
        job.trial_number,
        job.archid,
        True,
        metrics={**trained.metrics, **int8_metrics},
        per_class_iou=trained.per_class_iou,
        onnx_model=trained.onnx_model,
        int8_model=int8_model,
        int8_error=int8_error,
        weights=trained.weights,
        history=trained.history,
        worker=worker,
    )


def failed(job: Job, error: str) -> Outcome:
    """The Outcome of a job whose worker died or could not run it."""
    return Outcome(job.trial_number, job.archid, False, error)


def with_device(job: Job, device: str) -> Job:
    return dataclasses.replace(job, training=dataclasses.replace(job.training, device=device))
