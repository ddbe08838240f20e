"""Repeatability of the latency objective: the 15 published architectures measured twice, each pass
in its own process, exactly as the search measures; prints the rank correlation and the median
relative difference between the passes.

    python -m benchmarks.bench_latency [--image-size 256] [--num-classes 18]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from benchmarks.figures import print_figures
from nas.search.promotion import rank_correlation

ROOT = Path(__file__).resolve().parent.parent
PASS = """
import json, sys
from nas.arch.archjson import read_arch
from nas.config import LatencyConfig
from nas.evaluation.measure import measure_genome_latency
size, classes, paths = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
print(json.dumps({p: measure_genome_latency(read_arch(p), classes, size, LatencyConfig()).latency_ms
                  for p in paths}))
"""


def measure_pass(paths: list[Path], image_size: int, num_classes: int) -> dict[str, float]:
    """One pass over all files in a fresh Python process; {path: median latency in ms}."""
    out = subprocess.run(
        [sys.executable, "-c", PASS, str(image_size), str(num_classes), *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--num-classes", type=int, default=18)
    args = parser.parse_args()
    paths = sorted((ROOT / "archs").glob("*.json"))
    first = measure_pass(paths, args.image_size, args.num_classes)
    second = measure_pass(paths, args.image_size, args.num_classes)
    a = np.array([first[str(p)] for p in paths])
    b = np.array([second[str(p)] for p in paths])
    for path, x, y in zip(paths, a, b, strict=True):
        print(f"{path.stem[:12]}  {x:9.3f} ms  {y:9.3f} ms  {100 * (y - x) / x:+6.2f}%")
    relative = np.abs(b - a) / a
    print(f"rank correlation between passes: {rank_correlation(a, b):.4f}")
    print(
        f"median relative difference: {100 * np.median(relative):.2f}% "
        f"(max {100 * relative.max():.2f}%)"
    )
    print_figures(
        {
            "archs": len(paths),
            "rank_correlation": rank_correlation(a, b),
            "median_relative_difference": float(np.median(relative)),
            "max_relative_difference": float(relative.max()),
        }
    )


if __name__ == "__main__":
    main()
