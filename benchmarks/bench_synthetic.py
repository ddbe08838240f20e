"""Speed of the synthetic faces generator on one core, PNG writing included, and label coverage;
and the generator's own PNG writer against Pillow's on the same faces (nas/data/synthetic/png.py
says why the project writes its own).

    python -m benchmarks.bench_synthetic [--num-images 500] [--image-size 256]
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.figures import print_figures
from nas.data.format import LABELS
from nas.data.synthetic.generate import make_face, write_synthetic_faces
from nas.data.synthetic.png import encode_png
from nas.data.synthetic.render import make_studio


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


def png_writers(num_images: int, size: int, seed: int) -> tuple[float, float]:
    """Milliseconds to encode one face (photo and label map): the generator's writer, Pillow's
    (its fastest setting for the photo, as small a file as ours for the labels)."""
    studio = make_studio(seed, size)
    faces = [make_face(index, seed, size, studio)[:2] for index in range(num_images)]

    def pillow(pixels: np.ndarray, level: int) -> bytes:
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, format="PNG", compress_level=level)
        return out.getvalue()

    timings = []
    for encode in (lambda p, level: encode_png(p), pillow):
        start = time.perf_counter()
        for photo, labels in faces:
            encode(photo, 0), encode(labels, 1)
        timings.append((time.perf_counter() - start) / num_images * 1e3)
    return timings[0], timings[1]


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
    own_ms, pillow_ms = png_writers(min(n, 100), args.image_size, args.seed)
    print(f"PNG writing per face: {own_ms:.2f} ms here, {pillow_ms:.2f} ms with Pillow")
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
            "png_ms_per_face": own_ms,
            "pillow_png_ms_per_face": pillow_ms,
            "pillow_over_own": pillow_ms / own_ms,
        }
    )


if __name__ == "__main__":
    main()
