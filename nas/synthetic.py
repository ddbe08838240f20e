"""Built-in synthetic faces in the exact Face Synthetics format: varied, labelled, fast to make."""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import os
import struct
import zlib
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from nas.facedraw import (
    PAINT_TO_LABEL,
    FaceShape,
    Frame,
    Sketch,
    cat,
    draw_features,
    mouth_curves,
    outline,
    span,
    unit_arc,
)
from nas.faceparts import (
    draw_back_hair,
    draw_background,
    draw_beard,
    draw_body,
    draw_facewear,
    draw_glasses,
    draw_hair,
    draw_head,
    draw_headwear,
    sample_palette,
)
from nas.facesynth import DataError, build_once

MIN_IMAGE_SIZE = 16


def _pick(u: float, options: tuple[str, ...], weights: tuple[float, ...]) -> str:
    """The option that a uniform number `u` in [0, 1) falls on, by weight."""
    return options[bisect.bisect(list(itertools.accumulate(weights)), u * sum(weights))]


def sample_shape(rng: np.random.Generator, size: int) -> FaceShape:
    """A random face: pose, proportions, expression, hair style and accessories."""
    numbers = iter(rng.random(56).tolist())  # one Generator call: each costs microseconds

    def u(low: float = 0.0, high: float = 1.0) -> float:
        return low + (high - low) * next(numbers)

    half_width = size * u(0.16, 0.32)
    roll = min(
        max(0.15 * math.sqrt(-2 * math.log(1 - u())) * math.cos(2 * math.pi * u()), -0.4), 0.4
    )  # a normal of std 0.15 (Box-Muller), clipped
    frame = Frame(
        size * u(0.33, 0.67),
        size * u(0.36, 0.56),
        half_width,
        half_width * u(1.2, 1.42),
        roll,
        u(-0.55, 0.55),
    )
    eye_v, nose_v = u(-0.12, 0.0), u(0.25, 0.36)
    hair = _pick(u(), ("bald", "short", "long"), (0.1, 0.45, 0.45))
    fringe = u() < 0.25
    return FaceShape(
        frame=frame,
        jaw_taper=u(0.2, 0.45),
        eye_v=eye_v,
        eye_sep=u(0.33, 0.42),
        eye_hw=u(0.12, 0.16),
        eye_up=u(0.05, 0.09),
        eye_low=u(0.03, 0.055),
        iris_hw=u(0.055, 0.075),
        gaze=u(-0.04, 0.04),
        brow_v=eye_v - u(0.13, 0.2),
        brow_hw=u(0.15, 0.21),
        brow_thick=u(0.025, 0.06),
        brow_arch=u(0.0, 0.05),
        nose_v=nose_v,
        nose_w=u(0.14, 0.22),
        mouth_v=nose_v + u(0.2, 0.28),
        mouth_hw=u(0.22, 0.32),
        lip_top=u(0.035, 0.07),
        lip_bottom=u(0.045, 0.085),
        mouth_open=0.0 if u() < 0.45 else u(0.02, 0.12),
        smile=u(-0.03, 0.05),
        hair=hair,
        hair_volume=u(0.03, 0.2),
        hairline=u(-0.45, -0.3) if fringe else u(-0.62, -0.42),
        sideburn=u(-0.15, 0.15),
        hair_length=u(1.3, 2.6),
        front_locks=u() < 0.6,
        ears=u() < (0.25 if hair == "long" else 0.85),
        beard=_pick(u(), ("none", "full", "goatee", "moustache"), (0.55, 0.2, 0.12, 0.13)),
        beard_cheek=u(0.1, 0.35),
        glasses=_pick(u(), ("none", "clear", "sun"), (0.7, 0.2, 0.1)),
        lens_hw=u(0.17, 0.24),
        lens_hh=u(0.11, 0.18),
        facewear=_pick(u(), ("none", "mask", "bandana"), (0.82, 0.12, 0.06)),
        headwear=_pick(u(), ("none", "beanie", "cap", "hat"), (0.72, 0.1, 0.1, 0.08)),
        hat_v=u(-0.6, -0.4),
        shoulder_v=u(0.3, 0.7),
        shoulder_w=u(2.0, 3.2),
        neck_w=u(0.4, 0.55),
        neckline=_pick(u(), ("round", "v", "turtle"), (0.5, 0.3, 0.2)),
        stripes=1 + int(u() * 3) if u() < 0.3 else 0,
    )


def _smooth_noise(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """(n, n) wrap-around Gaussian-filtered white noise of std `sigma` px, normalised to std 1."""
    spectrum = np.fft.rfft2(rng.standard_normal((n, n)))
    k2 = np.fft.fftfreq(n)[:, None] ** 2 + np.fft.rfftfreq(n)[None, :] ** 2
    field = np.fft.irfft2(spectrum * np.exp(-2.0 * (np.pi * sigma) ** 2 * k2), s=(n, n))
    return field / field.std()


# A pixel is one uint64 of four 16-bit lanes (R, G, B, spare), so that one numpy operation on
# (S, S) words lights, blurs or shades all three colours; lanes never carry into the next.
LANES, WORDS = np.dtype("<u2"), np.dtype("<u8")
EVERY_LANE = 0x0001_0001_0001_0001  # times a grey value: that value in every lane
LOW_8_BITS, LOW_9_BITS = 0x0000_00FF_00FF_00FF, 0x0000_01FF_01FF_01FF  # of R, G, B; spare: 0
SHADE_BIAS = 512  # lanes get 512 + signed shading, then are clipped to 512..767: byte = colour


@dataclass(frozen=True)
class Studio:
    """What every face of one size reuses: (2S, 2S) float32 texture and sensor noise fields,
    cropped at random per image, and the canvas the paint map is drawn on."""

    texture: np.ndarray  # std 1 / 1024: amplitude bytes are in 1/8 grey levels, light in 1/128
    noise: np.ndarray  # std 1
    scratch: np.ndarray  # (S * S,) words for temporaries
    canvas: Image.Image
    draw: ImageDraw.ImageDraw


def make_studio(seed: int, size: int) -> Studio:
    """The studio for images of `size` pixels: texture mixes fine, medium and coarse grain."""
    rng = np.random.default_rng([seed, 0, 1])
    n = 2 * size
    scales = ((0.5, 0.6), (0.7, size / 100), (0.6, size / 20))  # (weight, std in pixels)
    texture = sum(weight * _smooth_noise(rng, n, sigma) for weight, sigma in scales)
    texture = (texture / (1024 * texture.std())).astype(np.float32)
    canvas = Image.new("L", (size, size))
    noise = rng.standard_normal((n, n), dtype=np.float32)
    return Studio(texture, noise, np.empty(size * size, WORDS), canvas, ImageDraw.Draw(canvas))


def _pixel_words(rgb: np.ndarray, amplitude: np.ndarray) -> np.ndarray:
    """(256,) words per paint index of a sample_palette: R, G, B lanes and a spare lane holding
    the label in its low byte and the texture amplitude, in 1/8 grey levels (<= 26 * 8), in its
    high byte."""
    lanes = np.empty((256, 4), LANES)
    lanes[:, :3] = np.clip(rgb, 0, 255)
    lanes[:, 3] = (amplitude * 8 + 0.5).astype(LANES) << 8 | PAINT_TO_LABEL
    return lanes.view(WORDS).ravel()


def _blur(words: np.ndarray, times: int, scratch: np.ndarray) -> None:
    """Blur (S, S) words with 8-bit R, G, B lanes in place by [1, 2, 1] / 4 along both image
    axes, `times` (<= 2) times, as [1, 1] twice; sums grow 16x per blur and are normalised once
    at the end; the spare lane overflows out of the word and is cleared. `scratch`: >= S * S
    words, since a fresh half-megabyte temporary can cost page faults every time."""
    size, flat = len(words), words.reshape(-1)
    for _ in range(times):
        pairs = scratch[: size * (size - 1)].reshape(size - 1, size)
        np.add(words[:-1], words[1:], out=pairs)
        np.add(pairs[:-1], pairs[1:], out=words[1:-1])
        words[[0, -1]] <<= 2  # edge pixels keep their colour, at the inner pixels' weight
        edges = words[:, [0, -1]] << 2
        pairs = scratch[: size * size - 1]  # along rows on the flat array: ~2x faster...
        np.add(flat[:-1], flat[1:], out=pairs)
        np.add(pairs[:-1], pairs[1:], out=flat[1:-1])
        words[:, [0, -1]] = edges  # ...but it mixes row ends, so the edge columns are redone
    words >>= 4 * times
    words &= LOW_8_BITS


@functools.cache
def _ramp(size: int) -> np.ndarray:
    return np.linspace(-0.5, 0.5, size, dtype=np.float32)


def render(
    paint: np.ndarray, rng: np.random.Generator, studio: Studio
) -> tuple[np.ndarray, np.ndarray]:
    """The (S, S, 3) uint8 photo of a paint map (colours, blur, texture, a light gradient and
    noise) and its (S, S) uint8 label map, from one table lookup per pixel."""
    size = paint.shape[0]
    words = np.take(_pixel_words(*sample_palette(rng)), paint)
    spare = words.view(np.uint8).reshape(size, size, 8)[..., 6:]  # label, amplitude bytes
    labels = spare[..., 0].copy()
    r = rng.random(9).tolist()  # one Generator call: each costs microseconds
    blurs = int(_pick(r[0], ("0", "1", "2"), (0.4, 0.45, 0.15)))
    ty, tx, ny, nx = (int(t * size) for t in r[1:5])  # where the texture and noise are cropped
    shade = np.multiply(spare[..., 1], studio.texture[ty : ty + size, tx : tx + size])
    shade += (1.0 + 5.0 * r[5]) / 128 * studio.noise[ny : ny + size, nx : nx + size]  # / 128:
    gx, gy, ramp = 1.2 * r[6] - 0.6, 1.2 * r[7] - 0.6, _ramp(size)  # light is in 1/128 steps
    light = (128 * (0.75 + 0.4 * r[8] + gy * ramp) + 0.5)[:, None] + (128 * gx) * ramp
    _blur(words, blurs, studio.scratch)
    words *= light.astype(np.uint16)  # light <= 1.75: 255 * 224 fits a lane
    words >>= 7
    words &= LOW_9_BITS
    shade *= light
    shade += SHADE_BIAS + 0.5  # + 0.5: the cast below rounds down
    grey = studio.scratch.reshape(size, size)
    np.multiply(shade.astype(np.uint16), EVERY_LANE, out=grey, dtype=WORDS)
    words += grey
    lanes = words.view(LANES)
    np.clip(lanes, SHADE_BIAS, SHADE_BIAS + 255, out=lanes)
    rgbx = lanes.astype(np.uint8)  # the low byte of 512 + c is c
    # Pillow packs RGBX to RGB several times faster than numpy copies three of four bytes
    rgb = Image.frombuffer("RGB", (size, size), rgbx, "raw", "RGBX", 0, 1).tobytes("raw", "RGB")
    return np.frombuffer(rgb, np.uint8).reshape(size, size, 3), labels


def _landmarks_uv(shape: FaceShape) -> np.ndarray:
    """The 68 iBUG points and the two pupils, (2, 70) face u and v, in the Face Synthetics order."""
    jaw_u, jaw_v = outline(shape, span(np.pi + 0.15, -0.15, 17))
    x, curve = unit_arc(5)
    brows_u = [side * shape.eye_sep + shape.brow_hw * x for side in (-1, 1)]
    brows_v = [shape.brow_v - shape.brow_arch * curve**2] * 2  # (1 - x^2) on the unit arc
    nose_u = cat(np.zeros(4), shape.nose_w * np.array([-0.7, -0.35, 0.0, 0.35, 0.7]))
    nostrils_v = shape.nose_v + np.array([0.03, 0.045, 0.055, 0.045, 0.03])
    nose_v = cat(span(shape.eye_v + 0.03, shape.nose_v, 4), nostrils_v)
    x, curve = unit_arc(4)
    upper, lower = shape.eye_v - shape.eye_up * curve, shape.eye_v + shape.eye_low * curve
    eyes_u = [side * shape.eye_sep + shape.eye_hw * x for side in (-1, 1)]
    eyes_u = [cat(u, u[2:0:-1]) for u in eyes_u]
    eyes_v = [cat(upper, lower[2:0:-1])] * 2
    m = mouth_curves(shape, 7)
    inner = [0, 2, 3, 4, 6, 4, 3, 2]
    mouth_u = cat(m["u"], m["u"][5:0:-1], m["u"][inner])
    mouth_v = cat(
        m["outer_top"],
        m["outer_bottom"][5:0:-1],
        m["inner_top"][inner[:5]],
        m["inner_bottom"][inner[5:]],
    )
    pupils_u = np.array([-1.0, 1.0]) * shape.eye_sep + shape.gaze
    u = cat(jaw_u, *brows_u, nose_u, *eyes_u, mouth_u, pupils_u)
    v = cat(jaw_v, *brows_v, nose_v, *eyes_v, mouth_v, np.full(2, shape.eye_v))
    return np.stack([u, v])


LANDMARK_FIELDS = (
    "jaw_taper",
    "eye_v",
    "eye_sep",
    "eye_hw",
    "eye_up",
    "eye_low",
    "gaze",
    "brow_v",
    "brow_hw",
    "brow_arch",
    "nose_v",
    "nose_w",
    "mouth_v",
    "mouth_hw",
    "lip_top",
    "lip_bottom",
    "mouth_open",
    "smile",
)  # all that landmarks use
ON_SURFACE = np.arange(70) >= 17  # the jaw points are on the outline, the others on the face


@functools.cache
def _landmark_basis() -> tuple[np.ndarray, np.ndarray]:
    """_landmarks_uv is linear in LANDMARK_FIELDS: its value at all zeros and (2, 70, K) the
    change per unit of each field. One product replaces ~50 small numpy calls per face."""
    zero = FaceShape(**{field.name: 0.0 for field in fields(FaceShape)})  # others are unused
    base = _landmarks_uv(zero)
    steps = [_landmarks_uv(replace(zero, **{name: 1.0})) - base for name in LANDMARK_FIELDS]
    return base, np.stack(steps, axis=-1)


def landmarks(shape: FaceShape) -> np.ndarray:
    """The 68 iBUG points and the two pupils, (70, 2) pixel xy, in the Face Synthetics order."""
    base, basis = _landmark_basis()
    u, v = base + (basis * [getattr(shape, name) for name in LANDMARK_FIELDS]).sum(axis=-1)
    return shape.frame.pixels(u, v, ON_SURFACE)


def make_face(
    index: int, seed: int, size: int, studio: Studio
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Face `index` of a seed: image (S, S, 3) uint8, labels (S, S) uint8, landmarks (70, 2) px."""
    rng = np.random.Generator(np.random.PCG64([seed, index, 0]))  # = default_rng, 2x faster
    draw_background(studio.draw, rng, size)  # covers the whole canvas first
    shape = sample_shape(rng, size)
    sketch = Sketch(shape.frame)
    for part in (
        draw_back_hair,
        draw_body,
        draw_head,
        draw_hair,
        draw_beard,
        draw_features,
        draw_glasses,
        draw_facewear,
        draw_headwear,
    ):  # z-order: later parts cover earlier
        part(sketch, shape)
    sketch.paint(studio.draw)
    image, labels = render(np.asarray(studio.canvas), rng, studio)
    return image, labels, landmarks(shape)


def _chunk(kind: bytes, *data: bytes) -> list[bytes]:
    """A PNG chunk as pieces to join once: copying a 200 kB photo costs ~15 µs per copy."""
    crc = zlib.crc32(kind)
    for part in data:
        crc = zlib.crc32(part, crc)
    return [struct.pack(">I", sum(map(len, data))), kind, *data, struct.pack(">I", crc)]


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of an (H, W) grey or (H, W, 3) RGB uint8 array, unfiltered. Labels: zlib
    run-length coding (~0.1 ms, ~2 kB). RGB: stored deflate blocks, since compressing a noisy
    photo costs ~2.5 ms per 256x256 image for files only ~1.5x smaller."""
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


def _write(path: str, data: bytes) -> None:
    """Create or truncate `path` holding `data`; os calls skip Python's buffered file objects."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o666)
    try:
        view = memoryview(data)
        while view:  # a write may take less than all
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _check_args(num_images: int, image_size: int, seed: int) -> None:
    if num_images < 1 or image_size < MIN_IMAGE_SIZE or seed < 0:
        raise DataError(
            f"synthetic faces need num_images >= 1, image_size >= {MIN_IMAGE_SIZE} "
            f"and seed >= 0; got num_images {num_images}, image_size {image_size}, "
            f"seed {seed}."
        )


def write_synthetic_faces(
    output_dir: str | Path, num_images: int, image_size: int = 256, seed: int = 0
) -> None:
    """Write {id}.png, {id}_seg.png and {id}_ldmks.txt for ids 000000.. into `output_dir`."""
    _check_args(num_images, image_size, seed)
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    studio = make_studio(seed, image_size)
    width = max(6, len(str(num_images - 1)))  # ids sort in index order
    for index in range(num_images):
        image, labels, points = make_face(index, seed, image_size, studio)
        stem = os.path.join(output, f"{index:0{width}d}")
        _write(f"{stem}.png", encode_png(image))
        _write(f"{stem}_seg.png", encode_png(labels))
        text = ("%.3f %.3f\n" * len(points)) % tuple(points.ravel().tolist())
        _write(f"{stem}_ldmks.txt", text.encode())


def ensure_synthetic_faces(cache_dir: Path, num_images: int, image_size: int, seed: int) -> Path:
    """The folder cache_dir/synthetic/n{N}_s{S}_seed{K}, made once (atomically, under a lock)."""
    _check_args(num_images, image_size, seed)
    name = f"n{num_images}_s{image_size}_seed{seed}"
    target = Path(cache_dir).expanduser().resolve() / "synthetic" / name
    return build_once(target, lambda tmp: write_synthetic_faces(tmp, num_images, image_size, seed))
