"""Is the built-in synthetic data set learnable and discriminating? A larger hourglass and a tiny
one get the same short training; both should beat the majority-class baseline and the larger
one should score clearly higher.

    python -m benchmarks.bench_learnability [--steps 150] [--image-size 96] [--lr 0.002]
"""

from __future__ import annotations

import argparse
import dataclasses
import random

import numpy as np
import torch

from benchmarks.figures import print_figures
from nas.arch.model import StackedHourglass
from nas.arch.profile import count_params
from nas.arch.space import Block, DownBlock, Genome, Hourglass, random_genome
from nas.config import SpaceConfig, load_config
from nas.data.dataset import load_data
from nas.evaluation.metrics import majority_baseline_miou
from nas.evaluation.training import train_partial


def uniform_genome(stem: int, base: int, layers: int, factor: float, op: str) -> Genome:
    """One hourglass whose blocks all have `layers` layers of `op` and channel factor `factor`."""
    space = SpaceConfig()
    template = random_genome(space, random.Random(0))
    ops = (op,) * space.max_down_layers
    down = tuple(DownBlock(layers, ops, factor) for _ in range(space.num_blocks))
    skip = tuple(Block(1, (op,) * space.max_skip_layers) for _ in range(space.num_blocks - 1))
    up = tuple(Block(layers, ops) for _ in range(space.num_blocks - 1))
    hourglass = Hourglass(down, skip, up)
    return dataclasses.replace(
        template,
        stem_stride=stem,
        base_ch=base,
        num_hourglasses=1,
        hourglasses=(hourglass, template.hourglasses[1]),
        post=Block(1, template.post.ops),
    )


MODELS = {
    "tiny": uniform_genome(4, 8, 1, 0.8, "conv3x3"),
    "larger": uniform_genome(2, 24, 2, 1.2, "conv3x3"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--lr", type=float, default=0.002)
    parser.add_argument("--num-images", type=int, default=1000)
    args = parser.parse_args()
    config = load_config(
        [],
        {
            "model.image_size": args.image_size,
            "data.synthetic_num_images": args.num_images,
            "data.synthetic_image_size": 128,
            "data.val_size": 100,
        },
    )
    splits = load_data(config.data, args.image_size)
    cfg = dataclasses.replace(
        config.partial_training, epochs=1000.0, max_steps=args.steps, lr=args.lr, device="cpu"
    )
    baseline = majority_baseline_miou(np.asarray(splits.val.labels), 19)
    print(
        f"{len(splits.train.ids)} train / {len(splits.val.ids)} val images at "
        f"{args.image_size}px, {args.steps} steps of batch {cfg.batch_size}, lr {args.lr}"
    )
    print(f"majority-class baseline val mIoU: {baseline:.4f}")
    scores = {}
    for name, genome in MODELS.items():
        torch.manual_seed(0)
        model = StackedHourglass(genome)
        result = train_partial(model, splits, cfg, 19)
        scores[name] = result.miou
        print(
            f"{name:>7}: {count_params(model):>8,} params, val mIoU {result.miou:.4f} "
            f"({result.miou / baseline:.2f}x baseline) in {result.train_seconds:.0f} s"
        )
    print(f"larger / tiny val mIoU: {scores['larger'] / scores['tiny']:.2f}x")
    print_figures(
        {
            "baseline_miou": baseline,
            "tiny_miou": scores["tiny"],
            "larger_miou": scores["larger"],
            "ratio": scores["larger"] / scores["tiny"],
        }
    )


if __name__ == "__main__":
    main()
