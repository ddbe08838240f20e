"""Write a built-in synthetic faces data set in the exact Face Synthetics format."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from entrypoints.cli import run_main
from nas.commands.synthesize import run
from nas.config import DataConfig

DEFAULTS = DataConfig()  # the data.synthetic_* keys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m entrypoints.synthesize", description=__doc__)
    parser.add_argument("--output-dir", required=True, help="new or empty folder to write into")
    parser.add_argument(
        "--num-images", type=int, default=DEFAULTS.synthetic_num_images, help="number of faces"
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=DEFAULTS.synthetic_image_size,
        help="square image size in pixels",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULTS.synthetic_seed,
        help="the same seed writes the same files",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    output = Path(args.output_dir)
    seconds = run(output, args.num_images, args.image_size, args.seed)
    size = f"{args.image_size}x{args.image_size}"
    print(
        f"wrote {args.num_images} synthetic faces ({size}, seed {args.seed}) to {output} "
        f"in {seconds:.1f} s ({args.num_images / seconds:.0f} images/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
