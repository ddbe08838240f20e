"""Describe an architecture file: Archai id, parameters, MACs, channels and layers per block."""

from __future__ import annotations

import argparse
import json
import sys

from entrypoints.cli import run_main
from nas.commands.describe import format_text, run
from nas.config import Config, load_config

DEFAULTS = Config()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m entrypoints.describe", description=__doc__)
    parser.add_argument("arch", help="Archai-format architecture JSON file")
    parser.add_argument(
        "--num-classes",
        type=int,
        help="output classes (19 = every Face Synthetics label; 18 = Archai); default: the "
        f"config's model.num_classes ({DEFAULTS.model.num_classes} unless --config sets it)",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        help="square input size in pixels; default: the config's model.image_size "
        f"({DEFAULTS.model.image_size} unless --config sets it)",
    )
    parser.add_argument(
        "--latency",
        action="store_true",
        help="also time the network in ONNX Runtime exactly as the search does",
    )
    parser.add_argument(
        "--config",
        default="",
        help="search config whose model and latency settings to use (default: the defaults)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    named = {"model.num_classes": args.num_classes, "model.image_size": args.image_size}
    overrides = {key: value for key, value in named.items() if value is not None}
    config = load_config([args.config] if args.config else [], overrides)
    info = run(args.arch, config, args.latency)
    print(json.dumps(info) if args.json else format_text(info))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
