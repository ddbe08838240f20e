"""PNG files written directly: unfiltered rows, run-length labels, stored photos. Pillow writes PNG
too, but filters every row first, which makes writing a face several times slower
(`bench_synthetic` measures both); the generator's speed decides how long a first search waits."""

from __future__ import annotations

import struct
import zlib

import numpy as np


def _chunk(kind: bytes, *data: bytes) -> list[bytes]:
    """A PNG chunk as pieces to join once, so that a photo's bytes are copied once."""
    crc = zlib.crc32(kind)
    for part in data:
        crc = zlib.crc32(part, crc)
    return [struct.pack(">I", sum(map(len, data))), kind, *data, struct.pack(">I", crc)]


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of an (H, W) grey or (H, W, 3) RGB uint8 array, unfiltered. Labels: zlib
    run-length coding (small files, fast). RGB: stored deflate blocks: compressing a noisy photo
    costs more time than the smaller file saves."""
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else 3
    rows = np.zeros((height, width * channels + 1), np.uint8)  # each row: filter 0, then pixels
    rows[:, 1:] = pixels.reshape(height, width * channels)
    packer = zlib.compressobj(1 if channels == 1 else 0, zlib.DEFLATED, 15, 8, zlib.Z_RLE)
    header = struct.pack(">IIBBBBB", width, height, 8, 0 if channels == 1 else 2, 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            *_chunk(b"IHDR", header),
            *_chunk(b"IDAT", packer.compress(rows), packer.flush()),
            *_chunk(b"IEND"),
        ]
    )
