"""StackedHourglass: parameter counts, shapes, gradients everywhere, ONNX parity, size checks."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from nas.arch.archjson import read_arch
from nas.arch.model import StackedHourglass, check_image_size, size_divisor
from nas.arch.profile import count_macs, count_params
from nas.arch.space import ArchError, random_genome
from nas.config import LatencyConfig, SpaceConfig
from nas.evaluation import latency as latency_module
from nas.evaluation.latency import (
    OnnxMismatchError,
    export_checked,
    export_onnx,
    inference_session,
    measure_model_latency,
    measure_onnx_latency,
)
from tests.conftest import PUBLISHED

BE543 = "be543f6a3d1eadc9a42496f0b40871d82d4931df"


def test_archai_parameter_count() -> None:
    genome = read_arch(PUBLISHED[0].parent / f"{BE543}.json")
    assert count_params(StackedHourglass(genome, num_classes=18)) == 303_713
    # one more class adds a 16-channel 1x1 filter and a bias
    assert count_params(StackedHourglass(genome, num_classes=19)) == 303_713 + 17


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: p.stem[:8])
def test_published_forward_shape(path) -> None:
    model = StackedHourglass(read_arch(path), num_classes=18).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 64, 64)).shape == (1, 18, 64, 64)


def test_random_genomes_forward_and_gradient(small_space: SpaceConfig) -> None:
    for seed in range(12):
        genome = random_genome(small_space, random.Random(seed))
        torch.manual_seed(seed)
        model = StackedHourglass(genome, num_classes=5)
        out = model(torch.rand(2, 3, 32, 32))
        assert out.shape == (2, 5, 32, 32)
        torch.nn.functional.cross_entropy(out, torch.randint(0, 5, (2, 32, 32))).backward()
        for name, param in model.named_parameters():
            assert param.grad is not None and param.grad.abs().sum() > 0, (seed, name)


def test_full_space_genomes_build_and_run() -> None:
    for seed in range(6):
        genome = random_genome(SpaceConfig(), random.Random(seed))
        model = StackedHourglass(genome).eval()
        with torch.no_grad():
            assert model(torch.rand(1, 3, 32, 32)).shape == (1, 19, 32, 32)


def test_onnx_export_matches_pytorch(small_space: SpaceConfig) -> None:
    for seed in range(3):
        genome = random_genome(small_space, random.Random(100 + seed))
        torch.manual_seed(seed)
        model = StackedHourglass(genome, num_classes=7).eval()
        x = torch.rand(1, 3, 64, 64)
        session = inference_session(export_onnx(model, 64, opset=18), num_threads=1)
        (onnx_out,) = session.run(None, {"image": x.numpy()})
        with torch.no_grad():
            np.testing.assert_allclose(onnx_out, model(x).numpy(), rtol=1e-4, atol=1e-4)


def test_latency_measurement_fields(small_space: SpaceConfig) -> None:
    genome = random_genome(small_space, random.Random(0))
    onnx_model = export_onnx(StackedHourglass(genome), 32, opset=18)
    cfg = LatencyConfig(warmup_runs=2, min_runs=5, max_runs=8, target_seconds=0.0)
    result = measure_onnx_latency(onnx_model, 32, cfg)
    assert result.latency_runs == 5
    assert 0 < result.latency_ms <= result.latency_p90_ms
    assert result.latency_threads == 1 and result.onnx_opset == 18


def test_indivisible_input_size_is_refused() -> None:
    genome = read_arch(PUBLISHED[0].parent / f"{BE543}.json")
    assert size_divisor(genome) == 32
    check_image_size(genome, 96)
    with pytest.raises(ArchError, match=r"image size 100 .* multiples of 32 \(e\.g\. 96\)"):
        check_image_size(genome, 100)


def test_macs_of_a_single_conv() -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1, bias=False))
    assert count_macs(model, 8) == 8 * 8 * 4 * 3 * 9


def test_every_export_is_checked_against_its_network(small_space, monkeypatch) -> None:
    """The export's logits are compared with the network's on a fixed input; an export that
    computes something else is refused with a clear error instead of being timed or logged."""
    genome = random_genome(small_space, random.Random(7))
    torch.manual_seed(0)
    model = StackedHourglass(genome, num_classes=7)
    onnx_model, diff = export_checked(model, 32, 18, "torchscript", tolerance=1e-3)
    assert onnx_model and 0 <= diff < 1e-4
    latency = measure_model_latency(model, 32, LatencyConfig(warmup_runs=1, min_runs=3))
    assert 0 <= latency.timed_onnx_max_abs_diff < 1e-4

    torch.manual_seed(1)
    other = StackedHourglass(genome, num_classes=7)  # same graph, other weights

    def wrong_export(net, *args, **kwargs):
        return original(other, *args, **kwargs)

    original = latency_module.export_onnx
    monkeypatch.setattr(latency_module, "export_onnx", wrong_export)
    with pytest.raises(OnnxMismatchError, match="computes other logits.*latency.onnx_tolerance"):
        export_checked(model, 32, 18, "torchscript", tolerance=1e-3)
