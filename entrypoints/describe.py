"""Describe an architecture file: Archai id, parameters, MACs, channels and layers per block."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from entrypoints.cli import run_main
from nas.arch.archjson import archid, read_arch
from nas.arch.profile import profile_genome
from nas.config import load_config
from nas.evaluation.measure import measure_genome_latency


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m entrypoints.describe", description=__doc__)
    parser.add_argument("arch", help="Archai-format architecture JSON file")
    parser.add_argument(
        "--num-classes",
        type=int,
        default=19,
        help="output classes (19 = every Face Synthetics label; 18 = Archai)",
    )
    parser.add_argument("--image-size", type=int, default=256, help="square input size in pixels")
    parser.add_argument(
        "--latency",
        action="store_true",
        help="also time the network in ONNX Runtime exactly as the search does",
    )
    parser.add_argument(
        "--config",
        default="",
        help="search config whose latency settings to use (default: defaults)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser.parse_args(argv)


def describe(args: argparse.Namespace) -> dict[str, Any]:
    genome = read_arch(args.arch)
    info = {
        "arch": args.arch,
        "archid": archid(genome),
        "num_classes": args.num_classes,
        "image_size": args.image_size,
    }
    info.update(profile_genome(genome, args.num_classes, args.image_size))
    if args.latency:
        config = load_config([args.config] if args.config else [])
        result = measure_genome_latency(genome, args.num_classes, args.image_size, config.latency)
        info.update(result.as_dict())
    return info


def format_text(info: dict[str, Any]) -> str:
    lines = [
        f"archid       {info['archid']}",
        f"parameters   {info['num_params']:,} ({info['num_classes']} classes)",
        f"MACs         {info['macs']:,} at {info['image_size']}x{info['image_size']}",
        f"hourglasses  {info['num_hourglasses']} x {info['num_blocks']} blocks, "
        f"stem stride {info['stem_stride']}, base channels {info['base_ch']}",
    ]
    if "latency_ms" in info:
        lines.append(
            f"latency      {info['latency_ms']:.3f} ms median, "
            f"{info['latency_p90_ms']:.3f} ms p90 (ONNX Runtime, "
            f"{info['latency_threads']} thread)"
        )
    lines.append("block        channels      ops")
    for row in info["blocks"]:
        name = row["block"] if row["hourglass"] is None else f"hg{row['hourglass']}.{row['block']}"
        ops = ", ".join(row["ops"]) or "(identity)"
        lines.append(f"{name:<12} {row['in_ch']:>4} -> {row['out_ch']:<5} {ops}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = describe(args)
    print(json.dumps(info) if args.json else format_text(info))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
