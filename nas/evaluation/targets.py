"""Deployment targets: a candidate's model as a target deploys it (FP32 as exported, or INT8 by
ONNX Runtime's static QDQ quantization calibrated on training images) and timed as the target
runs it (threads, execution provider); and a model's mIoU through ONNX Runtime."""

from __future__ import annotations

import dataclasses
import logging
import socket
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from nas.config import LatencyConfig, QuantizationConfig, TargetConfig
from nas.evaluation.latency import Latency, inference_session, measure_onnx_latency
from nas.evaluation.metrics import IGNORE_INDEX, iou_from_confusion
from nas.evaluation.tensor_names import INPUT_NAME, OUTPUT_NAME

log = logging.getLogger(__name__)
DEFAULT_PROVIDER = "CPUExecutionProvider"


class QuantizationError(RuntimeError):
    """ONNX Runtime could not quantize (or calibrate) a model; the message says why."""


def calibration_sample(images: np.ndarray, cfg: QuantizationConfig) -> np.ndarray:
    """A fixed, seeded sample of (N, S, S, 3) uint8 training images as a model takes them:
    (n, 3, S, S) float32 in [0, 1]; the same seed and split give the same sample anywhere."""
    count = min(cfg.calibration_images, len(images))
    chosen = np.random.default_rng(cfg.calibration_seed).choice(len(images), count, replace=False)
    sample = np.asarray(images[np.sort(chosen)], dtype=np.float32) / 255.0
    return np.ascontiguousarray(sample.transpose(0, 3, 1, 2))


def has_vnni() -> bool:
    """Whether this CPU has the VNNI 8-bit dot-product instructions (x86: avx512_vnni, avx_vnni);
    ONNX Runtime's guidance for INT8 differs with and without them."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


def reduce_range(cfg: QuantizationConfig) -> bool:
    """7-bit weights, as ONNX Runtime advises on x86 without VNNI (saturation otherwise)."""
    return not has_vnni() if cfg.reduce_range == "auto" else cfg.reduce_range == "true"


class _Calibration:
    """ONNX Runtime's CalibrationDataReader over a sample, one image per call."""

    def __init__(self, sample: np.ndarray):
        self.items: Iterator[dict[str, np.ndarray]] = iter(
            {INPUT_NAME: image[None]} for image in sample
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.items, None)

    def rewind(self) -> None:  # a reader ONNX Runtime may rewind: no second pass is asked here
        pass


def quantize_int8(onnx_model: bytes, sample: np.ndarray, cfg: QuantizationConfig) -> bytes:
    """The INT8 model of an FP32 one, as ONNX Runtime recommends for CNNs on the CPU: shape
    inference and graph optimisation first, then static QDQ quantization with UINT8
    activations and INT8 weights (per channel), calibrated (MinMax) on `sample`. Any failure
    is a QuantizationError."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    with tempfile.TemporaryDirectory() as tmp:
        fp32, prepared, int8 = (Path(tmp) / name for name in ("fp32", "pre", "int8"))
        fp32.write_bytes(onnx_model)
        try:
            # the batch axis is dynamic, which symbolic shape inference cannot resolve here
            quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
            quantize_static(
                str(prepared),
                str(int8),
                _Calibration(sample),  # type: ignore[arg-type]
                quant_format=QuantFormat.QDQ,
                per_channel=cfg.per_channel,
                reduce_range=reduce_range(cfg),
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
            )
        except Exception as err:  # noqa: BLE001 - ONNX Runtime's quantizer raises many kinds
            raise QuantizationError(f"{type(err).__name__}: {err}") from None
        return int8.read_bytes()


def deployed_model(
    onnx_model: bytes, target: TargetConfig, sample: np.ndarray | None, cfg: QuantizationConfig
) -> bytes:
    """The model `target` deploys: the FP32 export itself, or its INT8 quantization."""
    if target.precision == "fp32":
        return onnx_model
    if sample is None:
        raise QuantizationError("no calibration images were given for an int8 target")
    return quantize_int8(onnx_model, sample, cfg)


@dataclass(frozen=True)
class TargetLatency:
    """One target's measurement of one model: its latency, where it ran, or why it failed."""

    name: str
    latency: Latency | None = None
    host: str = ""  # the machine that timed it
    error: str = ""
    node: str = ""  # the Ray node that timed it, for a target bound to a Ray resource

    @property
    def ok(self) -> bool:
        return self.latency is not None


def time_target(model: bytes, image_size: int, target: TargetConfig, cfg: LatencyConfig) -> Latency:
    """Time a deployed model as `target` runs it (its threads and provider), the way the search
    times every candidate (warm-up, then the median of many single-image runs)."""
    timed = dataclasses.replace(cfg, num_threads=target.threads)
    return measure_onnx_latency(model, image_size, timed, provider=target.provider)


def missing_provider(provider: str) -> str:
    """'' if ONNX Runtime here has execution provider `provider`, else what it has."""
    have = ort.get_available_providers()
    return "" if provider in have else ", ".join(have)


def onnx_miou(
    model: bytes, split: Any, num_classes: int, batch_size: int = 16, threads: int = 1
) -> float:
    """The mIoU of an ONNX model (FP32 or INT8) on a split, through ONNX Runtime: one confusion
    matrix over the whole split, as the training scores the PyTorch network."""
    session = inference_session(model, threads)
    counts = np.zeros(num_classes * num_classes, np.int64)
    for start in range(0, len(split.images), batch_size):
        images = np.asarray(split.images[start : start + batch_size], np.float32) / 255.0
        feed = {INPUT_NAME: np.ascontiguousarray(images.transpose(0, 3, 1, 2))}
        predicted = session.run([OUTPUT_NAME], feed)[0].argmax(axis=1).reshape(-1)
        truth = np.asarray(split.labels[start : start + batch_size]).reshape(-1).astype(np.int64)
        valid = truth != IGNORE_INDEX
        counts += np.bincount(
            truth[valid] * num_classes + predicted[valid], minlength=num_classes * num_classes
        )
    return iou_from_confusion(counts.reshape(num_classes, num_classes))[0]


RemoteTimer = Callable[[str, bytes, TargetConfig], TargetLatency]


@dataclass
class Deployment:
    """The deployment targets of a command, ready to measure a model: the calibration sample of
    its data (None without an int8 target) and, for a target bound to a Ray resource, `remote`,
    which times a model on a node that advertises it."""

    targets: dict[str, TargetConfig]
    latency: LatencyConfig
    quantization: QuantizationConfig
    image_size: int
    sample: np.ndarray | None
    remote: RemoteTimer | None = None

    def models(self, onnx_model: bytes) -> dict[str, bytes | QuantizationError]:
        """The model each precision the targets use deploys (quantized once per precision)."""
        made: dict[str, bytes | QuantizationError] = {}
        for precision in sorted({t.precision for t in self.targets.values()}):
            target = TargetConfig(precision=precision)
            try:
                made[precision] = deployed_model(onnx_model, target, self.sample, self.quantization)
            except QuantizationError as err:
                made[precision] = err
        return made

    def measure(self, onnx_model: bytes) -> dict[str, TargetLatency]:
        """Every target's latency of the FP32 `onnx_model` as deployed there; a target that
        cannot quantize or time it holds the reason instead."""
        models, timed = self.models(onnx_model), {}
        for name, target in self.targets.items():
            model = models[target.precision]
            if isinstance(model, QuantizationError):
                timed[name] = TargetLatency(name, error=f"QuantizationError: {model}")
            elif target.resource:
                if self.remote is None:
                    raise RuntimeError(f"target {name} names a Ray resource and no Ray is used")
                timed[name] = self.remote(name, model, target)
            else:
                timed[name] = time_here(name, model, self.image_size, target, self.latency)
        return timed


def time_here(
    name: str, model: bytes, image_size: int, target: TargetConfig, cfg: LatencyConfig
) -> TargetLatency:
    """`time_target` on this machine; a failure (a provider that cannot run it) is kept."""
    try:
        latency = time_target(model, image_size, target, cfg)
    except Exception as err:  # noqa: BLE001 - ONNX Runtime's providers raise many kinds
        return TargetLatency(name, error=f"{type(err).__name__}: {str(err).splitlines()[0]}")
    return TargetLatency(name, latency, socket.gethostname())
