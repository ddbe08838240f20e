"""ONNX export of a network and its ONNX Runtime CPU latency: fixed threads, warm-up, median."""

from __future__ import annotations

import io
import logging
import math
import platform
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from nas.config import LatencyConfig
from nas.errors import UserError
from nas.evaluation.tensor_names import INPUT_NAME, OUTPUT_NAME


class OnnxMismatchError(UserError):
    """An exported ONNX model computes something else than its PyTorch network."""


@dataclass(frozen=True)
class Latency:
    """One measurement; times in milliseconds for a 1x3xSxS input."""

    latency_ms: float
    latency_p90_ms: float
    latency_iqr_ms: float
    latency_runs: int
    latency_threads: int
    timed_onnx_max_abs_diff: float  # the timed (untrained) model's check, see onnx_max_abs_diff
    onnx_opset: int
    ort_version: str
    cpu_model: str

    def as_dict(self) -> dict:
        return asdict(self)


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo, or what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def export_onnx(model: nn.Module, image_size: int, opset: int, exporter: str = "dynamo") -> bytes:
    """One self-contained ONNX model (weights inside): input 'image' (N,3,S,S) float in [0, 1],
    output 'logits' (N,C,S,S), N dynamic; `model` is put in eval mode. `exporter` is "dynamo"
    (torch.export) or "torchscript" (deprecated by torch, and several times faster)."""
    model = model.eval().cpu()
    example = (torch.zeros(1, 3, image_size, image_size),)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    names = {
        "input_names": [INPUT_NAME],
        "output_names": [OUTPUT_NAME],
        "verbose": False,
        "opset_version": opset,
    }
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if exporter == "torchscript":
            buffer = io.BytesIO()
            torch.onnx.export(
                model,
                example,
                buffer,
                dynamo=False,
                **names,
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            )
            return buffer.getvalue()
        program = torch.onnx.export(
            model,
            example,
            dynamo=True,
            external_data=False,
            **names,
            dynamic_shapes=({0: torch.export.Dim("batch")},),
        )
    return program.model_proto.SerializeToString()


def inference_session(
    onnx_model: bytes, num_threads: int, provider: str = "CPUExecutionProvider"
) -> ort.InferenceSession:
    """A session that runs one model on `provider` with `num_threads` intra-op threads."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(onnx_model, options, providers=[provider])


def time_runs(session: ort.InferenceSession, image_size: int, cfg: LatencyConfig) -> np.ndarray:
    """Warm up, then time single-image runs: at least min_runs, more while within
    target_seconds, at most max_runs. Returns each run's milliseconds."""
    feed = {
        INPUT_NAME: np.random.default_rng(0).random(
            (1, 3, image_size, image_size), dtype=np.float32
        )
    }
    for _ in range(cfg.warmup_runs):
        session.run(None, feed)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < cfg.max_runs and (
        len(times) < cfg.min_runs or time.perf_counter() - start < cfg.target_seconds
    ):
        t0 = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - t0) * 1000.0)
    return np.asarray(times)


def onnx_max_abs_diff(model: nn.Module, onnx_model: bytes, image_size: int) -> tuple[float, float]:
    """The largest absolute difference between the logits of `model` (put in eval mode) and of
    its export on one fixed input (a seeded uniform image), and the largest |logit|."""
    image = np.random.default_rng(0).random((1, 3, image_size, image_size), dtype=np.float32)
    with torch.no_grad():
        expected = model.eval().cpu()(torch.from_numpy(image)).numpy()
    got = inference_session(onnx_model, 1).run([OUTPUT_NAME], {INPUT_NAME: image})[0]
    if got.shape != expected.shape:
        return math.inf, float(np.abs(expected).max())
    return float(np.abs(got - expected).max()), float(np.abs(expected).max())


def export_checked(
    model: nn.Module, image_size: int, opset: int, exporter: str, tolerance: float
) -> tuple[bytes, float]:
    """`export_onnx`, then the export checked against the network: returns the ONNX model and
    its logits' max absolute difference; over `tolerance` x max(1, largest |logit|) (or not a
    number) raises OnnxMismatchError rather than let a model that computes something else be
    timed, logged or registered."""
    onnx_model = export_onnx(model, image_size, opset, exporter)
    diff, scale = onnx_max_abs_diff(model, onnx_model, image_size)
    if not diff <= tolerance * max(1.0, scale):
        raise OnnxMismatchError(
            f"the {exporter} ONNX export (opset {opset}) of this network computes other logits "
            f"than the PyTorch network: max absolute difference {diff:.3g} on a fixed input, "
            f"more than latency.onnx_tolerance {tolerance:g} x max(1, {scale:.3g}). Expected an "
            "export that matches; try the other latency.exporter (dynamo or torchscript) or "
            "another latency.opset."
        )
    return onnx_model, diff


def measure_onnx_latency(
    onnx_model: bytes,
    image_size: int,
    cfg: LatencyConfig,
    checked_diff: float = math.nan,
    provider: str = "CPUExecutionProvider",
) -> Latency:
    """Time an exported model in ONNX Runtime on `provider` (the CPU) with a fixed thread count;
    `checked_diff` is its export check's figure."""
    session = inference_session(onnx_model, cfg.num_threads, provider)
    times = time_runs(session, image_size, cfg)
    q25, q50, q75, q90 = np.percentile(times, [25, 50, 75, 90])
    return Latency(
        latency_ms=float(q50),
        latency_p90_ms=float(q90),
        latency_iqr_ms=float(q75 - q25),
        latency_runs=len(times),
        latency_threads=cfg.num_threads,
        timed_onnx_max_abs_diff=checked_diff,
        onnx_opset=cfg.opset,
        ort_version=ort.__version__,
        cpu_model=cpu_model(),
    )


def measure_model_latency(model: nn.Module, image_size: int, cfg: LatencyConfig) -> Latency:
    """Export a network with the configured exporter and time it: what the search does per
    candidate, and what `describe --latency` reports."""
    onnx_model, diff = export_checked(
        model, image_size, cfg.opset, cfg.exporter, cfg.onnx_tolerance
    )
    return measure_onnx_latency(onnx_model, image_size, cfg, diff)
