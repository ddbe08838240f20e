"""The `synthesize` command: the built-in synthetic faces written to a new folder."""

from __future__ import annotations

import time
from pathlib import Path

from nas.data.format import DataError
from nas.data.synthetic.generate import write_synthetic_faces


def run(output_dir: Path, num_images: int, image_size: int, seed: int) -> float:
    """Write the faces into `output_dir` (new or empty); returns the seconds it took."""
    if output_dir.exists() and (not output_dir.is_dir() or any(output_dir.iterdir())):
        raise DataError(
            f"output folder {output_dir} already exists and is not empty; choose a new "
            "or empty folder so that no other files mix with the synthetic faces."
        )
    start = time.perf_counter()
    write_synthetic_faces(output_dir, num_images, image_size, seed)
    return time.perf_counter() - start
