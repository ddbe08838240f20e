"""The cheap objectives of a genome, measured on its untrained network before any training:
parameter count, multiply-accumulates and ONNX Runtime CPU latency, from one build."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nas.arch.model import StackedHourglass, check_image_size
from nas.arch.profile import count_macs, count_params
from nas.arch.space import Genome
from nas.config import LatencyConfig
from nas.evaluation.latency import (
    Latency,
    export_checked,
    measure_model_latency,
    measure_onnx_latency,
)


@dataclass(frozen=True)
class CheapMeasures:
    """What is known of a candidate before it is trained; `onnx_model` is the export timed."""

    num_params: int
    macs: int
    latency: Latency
    onnx_model: bytes


def seeded_network(genome: Genome, num_classes: int, image_size: int) -> StackedHourglass:
    """The genome's network with the weights of seed 0, refused if it cannot take `image_size`."""
    check_image_size(genome, image_size)
    torch.manual_seed(0)  # the search and `describe --latency` time the same weights
    return StackedHourglass(genome, num_classes)


def measure_cheap(
    genome: Genome, num_classes: int, image_size: int, cfg: LatencyConfig
) -> CheapMeasures:
    """Count and time the untrained network: what the search does first for every candidate."""
    model = seeded_network(genome, num_classes, image_size)
    onnx_model, diff = export_checked(
        model, image_size, cfg.opset, cfg.exporter, cfg.onnx_tolerance
    )
    return CheapMeasures(
        count_params(model),
        count_macs(model, image_size),
        measure_onnx_latency(onnx_model, image_size, cfg, diff),
        onnx_model,
    )


def measure_genome_latency(
    genome: Genome, num_classes: int, image_size: int, cfg: LatencyConfig
) -> Latency:
    """The latency alone, as the search measures it (`describe --latency`, benchmarks)."""
    return measure_model_latency(seeded_network(genome, num_classes, image_size), image_size, cfg)
