"""Speed of the synthetic faces generator on one core, PNG writing included, and label coverage."""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from nas.facesynth import LABELS
from nas.synthetic import write_synthetic_faces


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--num-images", type=int, default=500)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", default=".cache", help="where to write, then delete, the faces")
    return parser.parse_args()


def label_coverage(folder: Path, num_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per label: the fraction of images holding it and its mean share of the pixels."""
    present, pixels = np.zeros(num_labels), np.zeros(num_labels)
    paths = sorted(folder.glob("*_seg.png"))
    for path in paths:
        labels = np.asarray(Image.open(path)).ravel()
        counts = np.bincount(labels, minlength=num_labels)[:num_labels]
        present += counts > 0
        pixels += counts / counts.sum()
    return present / len(paths), pixels / len(paths)


def main() -> None:
    args = parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        start, cpu_start = time.perf_counter(), time.process_time()
        write_synthetic_faces(tmp, args.num_images, args.image_size, args.seed)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        megabytes = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 1e6
        present, share = label_coverage(Path(tmp), len(LABELS))
    size = f"{args.image_size}x{args.image_size}"
    print(f"{args.num_images} faces at {size} on one core: {seconds:.2f} s wall, "
          f"{args.num_images / seconds:.0f} images/s ({args.num_images / cpu_seconds:.0f} per "
          f"CPU second), {megabytes / args.num_images * 1000:.0f} kB per face")
    print(f"{'label':<16}{'in images':>10}{'of pixels':>11}")
    for name, in_images, of_pixels in zip(LABELS, present, share):
        print(f"{name:<16}{in_images:>10.1%}{of_pixels:>11.2%}")


if __name__ == "__main__":
    main()
