"""Speed of the synthetic faces generator on one core, PNG writing included, and label coverage."""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.figures import print_figures
from nas.data.format import LABELS
from nas.data.synthetic.generate import write_synthetic_faces


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


def png_sizes(folder: Path) -> tuple[float, float]:
    """Mean kB of the {id}.png photos and of the {id}_seg.png label maps."""
    seg = [p.stat().st_size for p in folder.glob("*_seg.png")]
    photo = [p.stat().st_size for p in folder.glob("*.png") if not p.name.endswith("_seg.png")]
    return np.mean(photo) / 1e3, np.mean(seg) / 1e3


def main() -> None:
    args = parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        write_synthetic_faces(tmp, args.num_images, args.image_size, args.seed)
        seconds, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
        photo_kb, seg_kb = png_sizes(Path(tmp))
        present, share = label_coverage(Path(tmp), len(LABELS))
    # System time is the kernel creating 3 files per face and copying them to the page cache. On
    # ext4 without a journal, creating a file skips every inode deleted in the last minutes, so
    # it costs more right after many deletions (such as an earlier run of this benchmark).
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    n = args.num_images
    print(
        f"{n} faces at {args.image_size}x{args.image_size} on one core: {seconds:.2f} s wall, "
        f"{n / seconds:.0f} images/s, {n / (user + system):.0f} per CPU second "
        f"({user / n * 1e3:.2f} ms user + {system / n * 1e3:.2f} ms system per face)"
    )
    print(f"PNG sizes per face: photo {photo_kb:.0f} kB, label map {seg_kb:.1f} kB")
    print(f"{'label':<16}{'in images':>10}{'of pixels':>11}")
    for name, in_images, of_pixels in zip(LABELS, present, share, strict=False):
        print(f"{name:<16}{in_images:>10.1%}{of_pixels:>11.2%}")
    print_figures(
        {
            "images": n,
            "image_size": args.image_size,
            "images_per_second": n / seconds,
            "images_per_cpu_second": n / (user + system),
            "photo_kb": photo_kb,
            "label_map_kb": seg_kb,
            "labels_present": int((present > 0).sum()),
        }
    )


if __name__ == "__main__":
    main()
