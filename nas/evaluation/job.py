"""One candidate's evaluation as a pure function: partial training, then the trained ONNX model.
Runs in a Ray worker or in the driver; it never touches MLflow or Optuna."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import socket
import traceback
from dataclasses import dataclass, field

import torch

from nas.arch.archjson import parse_arch
from nas.arch.model import StackedHourglass
from nas.config import TrainingConfig
from nas.data.face_synthetics import load_splits
from nas.evaluation.latency import export_onnx
from nas.evaluation.training import train_partial


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to score one candidate; plain data, cheap to ship."""

    trial_number: int
    archid: str
    arch_json: str
    dataset_dir: str
    cache_dir: str
    split_sizes: tuple[int, int, int]
    image_size: int
    num_classes: int
    training: TrainingConfig
    opset: int
    exporter: str


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
    worker: str = ""


def init_seed(archid: str, seed: int) -> int:
    """The weight-initialisation seed of one architecture under one training seed: a score then
    depends on the architecture and the seed, not on which trial or worker trained it."""
    return int(hashlib.sha256(f"{archid}:{seed}".encode()).hexdigest()[:15], 16)


def _train(job: Job) -> tuple[dict[str, float], list[float], bytes]:
    splits = load_splits(job.dataset_dir, job.image_size, job.cache_dir, *job.split_sizes)
    genome = parse_arch(json.loads(job.arch_json), f"candidate {job.archid}")
    torch.manual_seed(init_seed(job.archid, job.training.seed))
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
    return (
        metrics,
        result.per_class_iou,
        export_onnx(model, job.image_size, job.opset, job.exporter),
    )


def evaluate_job(job: Job) -> Outcome:
    """Train the candidate and export it; any exception (NaN loss, out of memory, ...) becomes
    a failed Outcome carrying the error and its traceback."""
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        metrics, per_class, onnx_model = _train(job)
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
    return Outcome(
        job.trial_number,
        job.archid,
        True,
        metrics=metrics,
        per_class_iou=per_class,
        onnx_model=onnx_model,
        worker=worker,
    )


def failed(job: Job, error: str) -> Outcome:
    """The Outcome of a job whose worker died or could not run it."""
    return Outcome(job.trial_number, job.archid, False, error)


def with_device(job: Job, device: str) -> Job:
    return dataclasses.replace(job, training=dataclasses.replace(job.training, device=device))
