"""StackedHourglass(genome): Archai's face-segmentation network, built from a genome."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nas.arch.space import KERNEL_SIZES, ArchError, Block, Genome, Hourglass


def conv_op(op: str, in_ch: int, out_ch: int, stride: int = 1) -> nn.Sequential:
    """Conv2d(k x k, no bias, same zero padding) -> BatchNorm2d -> ReLU; stride 2: ceil(n/2)."""
    k = KERNEL_SIZES[op]
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, k, stride, k // 2, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


def layer_stack(block: Block, in_ch: int, out_ch: int, stride: int = 1) -> nn.Sequential:
    """The block's active layers: the first maps in_ch -> out_ch (with stride), the rest keep it."""
    layers = [
        conv_op(op, in_ch if j == 0 else out_ch, out_ch, stride if j == 0 else 1)
        for j, op in enumerate(block.active_ops)
    ]
    return nn.Sequential(*layers)


def upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=True)


def block_channels(base_ch: int, hourglass: Hourglass) -> list[int]:
    """chs[0] = base_ch, chs[i+1] = int(chs[i] * factor_i): float multiply, then truncation."""
    chs = [base_ch]
    for block in hourglass.down:
        chs.append(int(chs[-1] * block.ch_factor))
    return chs


class HourglassModule(nn.Module):
    """One hourglass, base_ch in and out; skips are summed, not concatenated."""

    def __init__(self, base_ch: int, hourglass: Hourglass):
        super().__init__()
        chs = block_channels(base_ch, hourglass)
        if min(chs) < 1:
            raise ArchError(
                f"channel factors shrink {base_ch} channels to {chs}: every block "
                "needs at least one channel."
            )
        self.down = nn.ModuleList(
            layer_stack(b, chs[i], chs[i + 1], 1 if i == 0 else 2)
            for i, b in enumerate(hourglass.down)
        )
        self.skip = nn.ModuleList(
            layer_stack(b, chs[i + 1], chs[i + 1]) for i, b in enumerate(hourglass.skip)
        )
        self.up = nn.ModuleList(
            layer_stack(b, chs[i + 2], chs[i + 1]) for i, b in enumerate(hourglass.up)
        )
        self.head = nn.Conv2d(chs[1], base_ch, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, down in enumerate(self.down):
            x = down(x)
            if i < len(self.skip):
                skips.append(self.skip[i](x))
        for i in reversed(range(len(self.up))):
            x = skips[i] + self.up[i](upsample(x, 2))
        return self.head(x)


class StackedHourglass(nn.Module):
    """Stem -> hourglasses in sequence -> bilinear upsampling by the stem stride -> post layers
    -> 1x1 classifier. Input (B, 3, H, W) in [0, 1]; output logits (B, num_classes, H, W)."""

    def __init__(self, genome: Genome, num_classes: int = 19):
        super().__init__()
        if num_classes < 2:
            raise ArchError(f"num_classes = {num_classes}; expected at least 2.")
        self.stem_stride = genome.stem_stride
        base = genome.base_ch
        self.stem = conv_op("conv3x3", 3, base, genome.stem_stride)
        self.hourglasses = nn.Sequential(
            *(HourglassModule(base, hg) for hg in genome.active_hourglasses)
        )
        self.post = layer_stack(genome.post, base, base)
        self.classifier = nn.Conv2d(base, num_classes, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.hourglasses(self.stem(x))
        if self.stem_stride > 1:
            x = upsample(x, self.stem_stride)
        return self.classifier(self.post(x))


def divisor_for(stem_stride: int, num_blocks: int) -> int:
    """Input height and width must be multiples of this: stem stride * 2^(blocks - 1)."""
    return stem_stride * 2 ** (num_blocks - 1)


def size_divisor(genome: Genome) -> int:
    """The genome's network's `divisor_for`."""
    return divisor_for(genome.stem_stride, genome.num_blocks)


def check_image_size(genome: Genome, image_size: int, source: str = "the architecture") -> None:
    """Refuse an input size the network cannot divide evenly, naming the sizes that would work."""
    divisor = size_divisor(genome)
    if image_size <= 0 or image_size % divisor:
        near = max(divisor, round(image_size / divisor) * divisor)
        raise ArchError(
            f"image size {image_size} does not fit {source}: with stem stride "
            f"{genome.stem_stride} and {genome.num_blocks} blocks, height and width "
            f"must be multiples of {divisor} (e.g. {near})."
        )
