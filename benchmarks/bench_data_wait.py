"""Share of a partial training's loop time spent waiting for data (target: under 5%).

python -m benchmarks.bench_data_wait                      # synthetic faces, random hourglass
python -m benchmarks.bench_data_wait --dataset-dir D --arch archs/x.json --compare
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import time
from typing import Any

import torch
from torch import nn

import nas.data.batches
from benchmarks.figures import print_figures
from nas.arch.archjson import read_arch
from nas.arch.model import StackedHourglass
from nas.arch.space import random_genome
from nas.config import Config, load_config, parse_overrides
from nas.data.dataset import load_data
from nas.evaluation.training import TrainResult, train_partial

TARGET_SHARE = 0.05


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", default=[], help="YAML config file(s)")
    parser.add_argument("--set", action="append", default=[], help="override section.key=value")
    parser.add_argument("--dataset-dir", default="", help="Face Synthetics folder; '' = synthetic")
    parser.add_argument("--model", choices=("hourglass", "tiny"), default="hourglass")
    parser.add_argument("--arch", default="", help="Archai architecture JSON; '' = random genome")
    parser.add_argument("--max-steps", type=int, default=60, help="training steps to time")
    parser.add_argument("--device", default="", help="override partial_training.device")
    parser.add_argument("--compare", action="store_true", help="also time without prefetching")
    return parser.parse_args()


def build_config(args: argparse.Namespace) -> Config:
    overrides: dict[str, Any] = parse_overrides(args.set)
    if args.dataset_dir:
        overrides["data.dataset_dir"] = args.dataset_dir
    if args.device:
        overrides["partial_training.device"] = args.device
    overrides["partial_training.max_steps"] = args.max_steps
    return load_config(args.config, overrides)


def build_model(args: argparse.Namespace, config: Config) -> nn.Module:
    """The model to train: a StackedHourglass from --arch (or a seeded random genome), or a
    two-layer conv net when --model tiny (then the timing is dominated by data loading)."""
    classes = config.model.num_classes
    if args.model == "tiny":
        return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, classes, 1))
    torch.manual_seed(config.partial_training.seed)
    genome = read_arch(args.arch) if args.arch else random_genome(config.space, random.Random(0))
    return StackedHourglass(genome, num_classes=classes)


def run_once(args: argparse.Namespace, config: Config, splits: Any, depth: int) -> TrainResult:
    nas.data.batches.PREFETCH_DEPTH = depth  # module default read by nas.data.batches.prefetch
    # As many epochs as steps, so that max_steps alone sets the length of the run.
    cfg = dataclasses.replace(
        config.partial_training, epochs=float(args.max_steps), max_steps=args.max_steps
    )
    return train_partial(build_model(args, config), splits, cfg, config.model.num_classes)


def report(label: str, result: TrainResult) -> float:
    share = result.data_wait_seconds / result.train_seconds
    print(
        f"{label:>12}: {result.steps} steps in {result.train_seconds:.2f} s on {result.device}, "
        f"{result.samples_per_second:.1f} samples/s, waited {result.data_wait_seconds:.3f} s "
        f"for data = {100 * share:.2f}% of the loop"
    )
    return share


def main() -> None:
    args = parse_args()
    config = build_config(args)
    started = time.perf_counter()
    splits = load_data(config.data, config.model.image_size)
    print(
        f"data: {len(splits.train.images)} train images of shape "
        f"{tuple(splits.train.images.shape[1:])} from {splits.source} "
        f"(loaded in {time.perf_counter() - started:.1f} s)"
    )
    depth = nas.data.batches.PREFETCH_DEPTH
    share = report("prefetch", run_once(args, config, splits, depth))
    if args.compare:
        inline = report("no prefetch", run_once(args, config, splits, 0))
        print(f"waiting share without / with prefetch: {inline / max(share, 1e-9):.1f}x")
    verdict = "OK" if share < TARGET_SHARE else "ABOVE TARGET"
    print(f"data wait share {100 * share:.2f}% (target < {100 * TARGET_SHARE:.0f}%): {verdict}")
    figures = {"data_wait_share": share}
    if args.compare:
        figures["data_wait_share_no_prefetch"] = inline
    print_figures(figures)


if __name__ == "__main__":
    main()
