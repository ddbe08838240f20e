"""Static facts about a network: parameters, multiply-accumulates, channels and layers per block."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from nas.arch.model import StackedHourglass, block_channels, check_image_size
from nas.arch.space import Genome


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_macs(model: nn.Module, image_size: int) -> int:
    """Multiply-accumulates of one forward pass on a 1x3xSxS input, counting convolutions only
    (bilinear upsampling, BatchNorm, ReLU and the skip sums are a fraction of a percent)."""
    total = 0

    def hook(module: nn.Conv2d, _inputs: Any, output: torch.Tensor) -> None:
        nonlocal total
        k_h, k_w = module.kernel_size
        total += output.numel() * (module.in_channels // module.groups) * k_h * k_w

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, image_size, image_size))
        model.train(was_training)
    finally:
        for handle in handles:
            handle.remove()
    return total


def _row(
    hourglass: int | None, block: str, in_ch: int, out_ch: int, ops: Sequence[str], stride: int = 1
) -> dict[str, Any]:
    """One row of `block_table`."""
    return {
        "hourglass": hourglass,
        "block": block,
        "in_ch": in_ch,
        "out_ch": out_ch,
        "ops": list(ops),
        "stride": stride,
    }


def block_table(genome: Genome) -> list[dict[str, Any]]:
    """One row per active block: hourglass, kind, index, input -> output channels, ops."""
    rows = [_row(None, "stem", 3, genome.base_ch, ["conv3x3"], genome.stem_stride)]
    for h, hg in enumerate(genome.active_hourglasses):
        chs = block_channels(genome.base_ch, hg)
        rows += [
            _row(h, f"down{i}", chs[i], chs[i + 1], b.active_ops, 1 if i == 0 else 2)
            for i, b in enumerate(hg.down)
        ]
        rows += [
            _row(h, f"skip{i}", chs[i + 1], chs[i + 1], b.active_ops) for i, b in enumerate(hg.skip)
        ]
        rows += [
            _row(h, f"up{i}", chs[i + 2], chs[i + 1], b.active_ops) for i, b in enumerate(hg.up)
        ]
    rows.append(_row(None, "post", genome.base_ch, genome.base_ch, genome.post.active_ops))
    return rows


def profile_genome(genome: Genome, num_classes: int, image_size: int) -> dict[str, Any]:
    """Parameter count and MACs of the network at `image_size`, with its block table."""
    check_image_size(genome, image_size)
    model = StackedHourglass(genome, num_classes)
    return {
        "num_params": count_params(model),
        "macs": count_macs(model, image_size),
        "num_hourglasses": genome.num_hourglasses,
        "num_blocks": genome.num_blocks,
        "stem_stride": genome.stem_stride,
        "base_ch": genome.base_ch,
        "blocks": block_table(genome),
    }
