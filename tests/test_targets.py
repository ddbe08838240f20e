"""Deployment targets: the INT8 model of a trained network segments like it, targets are timed
as configured (a failure is kept, not raised), bad targets are clean config errors, budgets gate
by the searched target, and a search with an INT8 objective registers INT8 models under the
target's aliases, which load through pyfunc, and resumes without timing anything twice."""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter

import mlflow
import numpy as np
import onnx
import pytest
import torch

from nas.arch.model import StackedHourglass
from nas.arch.space import random_genome
from nas.config import (
    ConfigError,
    LatencyConfig,
    QuantizationConfig,
    TargetConfig,
    TrainingConfig,
    load_config,
)
from nas.data.face_synthetics import Split, Splits
from nas.evaluation.latency import export_onnx, inference_session
from nas.evaluation.objectives import constraints
from nas.evaluation.targets import (
    Deployment,
    calibration_sample,
    onnx_miou,
    quantize_int8,
)
from nas.evaluation.training import train_partial
from nas.search.candidates import Candidate
from nas.search.checks import SearchError, check_search_config
from tests.test_search import StubExecutor, _study, run_with, store, tiny_config

__all__ = ["store"]  # the fixture, imported for these tests
SIZE = 32
FAST = LatencyConfig(warmup_runs=1, min_runs=3, max_runs=5, target_seconds=0.0)
INT8 = {"targets.int8.precision": "int8"}
# The agreement a trained model's INT8 copy must reach: rounding to 8 bits flips the pixels
# whose two best classes' logits are close, which a trained model has few of (an untrained one
# has many), so a copy that segments like its network agrees on nearly every pixel.
AGREEMENT = 0.95


def _split(count: int, seed: int) -> Split:
    """Dark noisy images with a bright square of class 1: an easy segmentation."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, size=(count, SIZE, SIZE, 3), dtype=np.uint8)
    labels = np.zeros((count, SIZE, SIZE), dtype=np.uint8)
    for i in range(count):
        y, x = rng.integers(1, SIZE - 14, size=2)
        images[i, y : y + 12, x : x + 12] = 220
        labels[i, y : y + 12, x : x + 12] = 1
    return Split(images, labels, tuple(f"{seed}-{i}" for i in range(count)))


@pytest.fixture(scope="module")
def trained(small_space_module) -> tuple[bytes, Splits]:
    """A small hourglass trained on the easy split, exported to ONNX."""
    splits = Splits(_split(48, 0), _split(16, 1), _split(8, 2), digest="easy", source="test")
    torch.manual_seed(0)
    model = StackedHourglass(random_genome(small_space_module, random.Random(3)), num_classes=2)
    training = TrainingConfig(epochs=8, batch_size=8, lr=5e-3, device="cpu")
    train_partial(model, splits, training, 2)
    return export_onnx(model, SIZE, 18, "torchscript"), splits


@pytest.fixture(scope="module")
def small_space_module():
    from nas.config import SpaceConfig

    return SpaceConfig(base_channels=(4, 8), ch_factors=(0.8, 1.0, 1.5), max_hourglasses=1)


def test_the_int8_model_segments_like_the_trained_network(trained) -> None:
    onnx_model, splits = trained
    sample = calibration_sample(splits.train.images, QuantizationConfig())
    assert sample.shape == (32, 3, SIZE, SIZE) and sample.dtype == np.float32
    assert np.array_equal(sample, calibration_sample(splits.train.images, QuantizationConfig()))
    int8 = quantize_int8(onnx_model, sample, QuantizationConfig())
    graph = onnx.load_from_string(int8).graph
    assert {"QuantizeLinear", "DequantizeLinear"} <= {node.op_type for node in graph.node}
    assert any(t.data_type == onnx.TensorProto.INT8 for t in graph.initializer)  # 8-bit weights
    images = np.ascontiguousarray(
        (splits.val.images.astype(np.float32) / 255).transpose(0, 3, 1, 2)
    )
    fp32_labels = inference_session(onnx_model, 1).run(None, {"image": images})[0].argmax(1)
    int8_labels = inference_session(int8, 1).run(None, {"image": images})[0].argmax(1)
    agreement = float((fp32_labels == int8_labels).mean())
    assert agreement >= AGREEMENT, agreement
    fp32_miou, int8_miou = (onnx_miou(m, splits.val, 2) for m in (onnx_model, int8))
    assert fp32_miou > 0.8 and abs(fp32_miou - int8_miou) < 0.05, (fp32_miou, int8_miou)


def test_targets_are_timed_as_configured_and_a_failure_is_kept(trained) -> None:
    onnx_model, splits = trained
    targets = {
        "fp32": TargetConfig(),
        "int8": TargetConfig(precision="int8", threads=2),
    }
    sample = calibration_sample(splits.train.images, QuantizationConfig())
    deployment = Deployment(targets, FAST, QuantizationConfig(), SIZE, sample)
    timed = deployment.measure(onnx_model)
    assert set(timed) == {"fp32", "int8"} and all(t.ok for t in timed.values())
    assert timed["int8"].latency.latency_threads == 2 and timed["int8"].latency.latency_ms > 0
    broken = deployment.measure(b"not a model")  # neither quantizable nor runnable
    assert not broken["int8"].ok and broken["int8"].error.startswith("QuantizationError")
    assert not broken["fp32"].ok and broken["fp32"].error


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"targets.t.precision": "int4"}, r"targets\.t\.precision = 'int4'; expected one of"),
        ({"targets.t.threads": "0"}, r"targets\.t\.threads = 0; expected an integer from 1"),
        ({"targets.t.max_latency_ms": "-1"}, r"targets\.t\.max_latency_ms = -1"),
        ({"targets.t.cores": "2"}, r"unknown key 'targets\.t\.cores'"),
        ({"targets.2fast.threads": "1"}, r"targets\.2fast: '2fast' is not a name"),
        ({"quantization.reduce_range": "maybe"}, r"quantization\.reduce_range = 'maybe'"),
    ],
)
def test_a_bad_target_is_a_config_error_naming_the_key(overrides: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load_config([], overrides)


def test_an_unknown_provider_is_refused_before_the_search_starts() -> None:
    config = load_config([], {"targets.npu.provider": "NoSuchExecutionProvider"})
    with pytest.raises(SearchError, match=r"targets\.npu\.provider = 'NoSuchExecutionProvider'"):
        check_search_config(config)
    searched = {**INT8, "search.objectives": "[val_miou.int8, latency_ms.int8]"}
    check_search_config(load_config([], searched))  # a searched int8 target is fine
    with pytest.raises(Exception, match=r"search\.objectives"):
        check_search_config(load_config([], {"search.objectives": "[val_miou.npu, latency_ms]"}))


def test_budgets_gate_the_latency_that_is_searched() -> None:
    """An FP32 model over the FP32 budget whose INT8 model is within the INT8 budget is trained
    when the INT8 target is the one searched, and not when FP32 latency is."""
    c = Candidate(0, 0, "a", "", latency_ms=5.0, num_params=10)
    c.measures["latency_ms.int8"] = 2.0
    budgets = {"budgets.max_latency_ms": 3, "targets.int8.max_latency_ms": 3, **INT8}
    fp32 = load_config([], budgets)
    int8 = load_config([], {**budgets, "search.objectives": "[val_miou.int8, latency_ms.int8]"})
    assert max(constraints(fp32, c).values()) > 0
    assert max(constraints(int8, c).values()) <= 0
    c.measures["latency_ms.int8"] = 4.0
    assert max(constraints(int8, c).values()) > 0
    none = load_config([], {**budgets, "search.objectives": "[val_miou, num_params]"})
    assert constraints(none, c)["latency_ms"] > 0  # no latency searched: the default budget


def test_a_search_for_an_int8_target_registers_int8_models_that_serve(
    store, data_cache, monkeypatch
) -> None:
    overrides = {
        **INT8,
        "search.objectives": "[val_miou.int8, latency_ms.int8]",
        "search.study_name": "int8",
    }
    config = tiny_config(data_cache, **overrides)
    measured = Counter()
    real = Deployment.measure

    def counting(self, onnx_model):
        measured["calls"] += 1
        return real(self, onnx_model)

    monkeypatch.setattr(Deployment, "measure", counting)
    summary = run_with(StubExecutor(), config, store / "out", monkeypatch)
    trials = _study(store, "int8").get_trials()
    assert measured["calls"] == len({t.user_attrs["nas"]["archid"] for t in trials})
    for trial in trials:
        record = trial.user_attrs["nas"]
        if record["state"] == "complete":
            assert trial.values[1] == pytest.approx(record["measures"]["latency_ms.int8"])
            assert not math.isnan(record["measures"]["val_miou.int8"])
    assert set(summary["aliases"]) == {"int8-best-iou", "int8-fastest", "int8-knee"}
    client = mlflow.MlflowClient()
    version = client.get_model_version_by_alias("face-seg-hourglass", "int8-knee")
    assert version.tags["nas.precision"] == "int8" and "latency_ms.int8" in version.tags
    assert version.source == version.tags["nas.int8_model_uri"]
    model = mlflow.pyfunc.load_model("models:/face-seg-hourglass@int8-knee")
    image = np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)
    assert model.predict(image)["logits"].shape == (1, 19, 64, 64)
    # resumed with one generation more: only the new trials are timed
    before = measured["calls"]
    more = dataclasses.replace(config, search=dataclasses.replace(config.search, generations=3))
    run_with(StubExecutor(), more, store / "out", monkeypatch)
    new = len(_study(store, "int8").get_trials()) - len(trials)
    assert 0 < measured["calls"] - before <= new
