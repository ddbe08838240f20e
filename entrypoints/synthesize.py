"""Write a built-in synthetic faces data set in the exact Face Synthetics format."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from entrypoints.cli import run_main
from nas.data.format import DataError
from nas.data.synthetic.generate import write_synthetic_faces


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m entrypoints.synthesize", description=__doc__)
    parser.add_argument("--output-dir", required=True, help="new or empty folder to write into")
    parser.add_argument("--num-images", type=int, default=1000, help="number of faces")
    parser.add_argument("--image-size", type=int, default=256, help="square image size in pixels")
    parser.add_argument("--seed", type=int, default=0, help="the same seed writes the same files")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    output = Path(args.output_dir)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise DataError(
            f"output folder {output} already exists and is not empty; choose a new "
            "or empty folder so that no other files mix with the synthetic faces."
        )
    start = time.perf_counter()
    write_synthetic_faces(output, args.num_images, args.image_size, args.seed)
    seconds = time.perf_counter() - start
    size = f"{args.image_size}x{args.image_size}"
    print(
        f"wrote {args.num_images} synthetic faces ({size}, seed {args.seed}) to {output} "
        f"in {seconds:.1f} s ({args.num_images / seconds:.0f} images/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
