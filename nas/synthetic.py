"""Built-in synthetic faces in the exact Face Synthetics format: varied, labelled, fast to make."""
from __future__ import annotations

import bisect
import functools
import itertools
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from nas.facedraw import (BACKGROUND_SLOTS, PAINT_TO_LABEL, FaceShape, Frame, Sketch,
                          draw_features, draw_head, landmarks, paint_index)
from nas.faceparts import (SKIN_LIKE_SLOTS, draw_back_hair, draw_background, draw_beard,
                           draw_body, draw_facewear, draw_glasses, draw_hair, draw_headwear)
from nas.facesynth import DataError, build_once

MIN_IMAGE_SIZE = 16
# base RGB colours that each face varies
SKIN = np.array([[255, 224, 196], [241, 194, 160], [224, 172, 130], [198, 134, 95],
                 [160, 105, 70], [110, 70, 45], [75, 50, 35]], np.float32)
HAIR = np.array([[20, 15, 12], [55, 35, 22], [100, 65, 40], [160, 115, 65], [215, 180, 120],
                 [150, 60, 30], [165, 165, 165], [235, 235, 230]], np.float32)
IRIS = np.array([[90, 55, 30], [55, 35, 20], [70, 110, 160], [80, 120, 80], [120, 125, 135]],
                np.float32)
LIPS = np.array([[185, 95, 95], [160, 80, 85], [200, 50, 75], [120, 40, 60], [205, 125, 120]],
                np.float32)
MASKS = np.array([[150, 190, 220], [235, 235, 235], [30, 30, 35]], np.float32)


def _pick(rng: np.random.Generator, options: tuple[str, ...], weights: tuple[float, ...]) -> str:
    return options[bisect.bisect(list(itertools.accumulate(weights)), rng.random() * sum(weights))]


def sample_shape(rng: np.random.Generator, size: int) -> FaceShape:
    """A random face: pose, proportions, expression, hair style and accessories."""
    u = rng.uniform
    half_width = size * u(0.16, 0.32)
    frame = Frame(size * u(0.33, 0.67), size * u(0.36, 0.56), half_width, half_width * u(1.2, 1.42),
                  float(np.clip(rng.normal(0.0, 0.15), -0.4, 0.4)), u(-0.55, 0.55))
    eye_v, nose_v = u(-0.12, 0.0), u(0.25, 0.36)
    hair = _pick(rng, ("bald", "short", "long"), (0.1, 0.45, 0.45))
    fringe = rng.random() < 0.25
    return FaceShape(
        frame=frame, jaw_taper=u(0.2, 0.45),
        eye_v=eye_v, eye_sep=u(0.33, 0.42), eye_hw=u(0.12, 0.16), eye_up=u(0.05, 0.09),
        eye_low=u(0.03, 0.055), iris_hw=u(0.055, 0.075), gaze=u(-0.04, 0.04),
        brow_v=eye_v - u(0.13, 0.2), brow_hw=u(0.15, 0.21), brow_thick=u(0.025, 0.06),
        brow_arch=u(0.0, 0.05),
        nose_v=nose_v, nose_w=u(0.14, 0.22),
        mouth_v=nose_v + u(0.2, 0.28), mouth_hw=u(0.22, 0.32), lip_top=u(0.035, 0.07),
        lip_bottom=u(0.045, 0.085), mouth_open=0.0 if rng.random() < 0.45 else u(0.02, 0.12),
        smile=u(-0.03, 0.05),
        hair=hair, hair_volume=u(0.03, 0.2), hairline=u(-0.45, -0.3) if fringe else u(-0.62, -0.42),
        sideburn=u(-0.15, 0.15), hair_length=u(1.3, 2.6), front_locks=rng.random() < 0.6,
        ears=rng.random() < (0.25 if hair == "long" else 0.85),
        beard=_pick(rng, ("none", "full", "goatee", "moustache"), (0.55, 0.2, 0.12, 0.13)),
        beard_cheek=u(0.1, 0.35),
        glasses=_pick(rng, ("none", "clear", "sun"), (0.7, 0.2, 0.1)),
        lens_hw=u(0.17, 0.24), lens_hh=u(0.11, 0.18),
        facewear=_pick(rng, ("none", "mask", "bandana"), (0.82, 0.12, 0.06)),
        headwear=_pick(rng, ("none", "beanie", "cap", "hat"), (0.72, 0.1, 0.1, 0.08)),
        hat_v=u(-0.6, -0.4),
        shoulder_v=u(0.3, 0.7), shoulder_w=u(2.0, 3.2), neck_w=u(0.4, 0.55),
        neckline=_pick(rng, ("round", "v", "turtle"), (0.5, 0.3, 0.2)),
        stripes=int(rng.integers(1, 4)) if rng.random() < 0.3 else 0,
    )


def _mix(a: np.ndarray, b: np.ndarray | list[float], t: float) -> np.ndarray:
    return a + (np.asarray(b, np.float32) - a) * t


def _face_colours(
    rng: np.random.Generator, spare: np.ndarray
) -> dict[tuple[str, int], tuple[np.ndarray, float]]:
    """(label, slot) -> (RGB, texture amplitude) for one face; `spare` (5, 3) random colours for
    clothing, glasses and headwear. right_* entries also colour left_*."""
    r = rng.random(16).tolist()  # one Generator call: each costs microseconds
    skin = _mix(SKIN[int(r[0] * 7)], SKIN[int(r[1] * 7)], 0.5 * r[2]) * rng.uniform(0.92, 1.08, 3)
    hair = HAIR[int(r[3] * 8)] if r[4] < 0.9 else spare[4]
    lips = _mix(skin, LIPS[int(r[5] * 5)], 0.4 + 0.5 * r[6])
    mask = (MASKS[int(r[7] * 3)] if r[8] < 0.7 else spare[3]) * (0.9 + 0.2 * r[9])
    return {
        ("skin", 0): (skin, 3), ("skin", 2): (_mix(skin, [220, 90, 90], 0.15), 3),
        ("nose", 0): (skin * 0.93, 3), ("nose", 1): (skin * 0.45, 2), ("nose", 2): (skin * 1.08, 2),
        ("right_eye", 0): (np.full(3, 215 + 35 * r[10]), 2),
        ("right_eye", 1): (IRIS[int(r[11] * 5)], 4), ("right_eye", 2): (np.array([15, 12, 15]), 1),
        ("right_brow", 0): (_mix(hair, [20, 15, 10], 0.4), 12),
        ("right_ear", 0): (skin * 0.95, 3), ("right_ear", 1): (skin * 0.72, 3),
        ("mouth_interior", 0): (np.array([70, 20, 25]), 6),
        ("mouth_interior", 1): (np.array([225, 220, 205]), 4),
        ("top_lip", 0): (lips * 0.92, 4), ("bottom_lip", 0): (lips * 1.05, 4),
        ("neck", 0): (skin * 0.86, 3),
        ("hair", 0): (hair, 22), ("hair", 1): (hair * 0.75, 22), ("hair", 2): (hair * 1.1, 22),
        ("beard", 0): (_mix(hair, skin, 0.6 * r[12]), 26),
        ("clothing", 0): (spare[0], 3 + 22 * r[13]), ("clothing", 1): (spare[1], 8),
        ("glasses", 0): (spare[2] * (0.1 + 0.9 * r[14]), 2), ("glasses", 1): (spare[3] * 0.3, 2),
        ("headwear", 0): (spare[4], 4 + 18 * r[15]), ("headwear", 1): (spare[0] * 0.8, 6),
        ("facewear", 0): (mask, 4), ("facewear", 1): (mask * 0.8, 3),
    }


def sample_palette(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per paint index: a uint8 RGB colour (256, 3) and a float32 texture amplitude (256,) in
    grey levels; background indices get random colours, some of them skin tones."""
    random = rng.random((256, 5), dtype=np.float32)
    grey = random[:, :3].mean(axis=1, keepdims=True)
    palette = 255 * (grey + (random[:, :3] - grey) * random[:, 3:4])  # random saturation
    amplitude = 25 * random[:, 4]
    colours = _face_colours(rng, palette[-5:])
    skin, others = colours["skin", 0][0], SKIN[rng.integers(len(SKIN), size=SKIN_LIKE_SLOTS)]
    distractors = np.where(rng.random((SKIN_LIKE_SLOTS, 1)) < 0.5, others, skin)
    shades = rng.uniform(0.85, 1.1, (SKIN_LIKE_SLOTS, 1))
    palette[BACKGROUND_SLOTS - SKIN_LIKE_SLOTS : BACKGROUND_SLOTS] = distractors * shades
    targets, sources = _slot_indices(tuple(colours))
    palette[targets] = np.array([colour for colour, _ in colours.values()], np.float32)[sources]
    amplitude[targets] = np.array([amp for _, amp in colours.values()], np.float32)[sources]
    palette *= rng.uniform(0.88, 1.12, 3).astype(np.float32)  # colour cast of the light
    return np.clip(palette, 0, 255).astype(np.uint8), amplitude


@functools.cache
def _slot_indices(slots: tuple[tuple[str, int], ...]) -> tuple[np.ndarray, np.ndarray]:
    """Paint indices of `slots` and, for each, its row in `slots`; right_* also paint left_*."""
    targets, sources = [], []
    for row, (label, slot) in enumerate(slots):
        for name in {label, label.replace("right", "left")}:
            targets.append(paint_index(name, slot))
            sources.append(row)
    return np.array(targets), np.array(sources)


def _smooth_noise(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """(n, n) wrap-around Gaussian-filtered white noise of std `sigma` px, normalised to std 1."""
    spectrum = np.fft.rfft2(rng.standard_normal((n, n)))
    k2 = np.fft.fftfreq(n)[:, None] ** 2 + np.fft.rfftfreq(n)[None, :] ** 2
    field = np.fft.irfft2(spectrum * np.exp(-2.0 * (np.pi * sigma) ** 2 * k2), s=(n, n))
    return field / field.std()


@dataclass(frozen=True)
class NoiseBanks:
    """Texture and sensor noise (2S, 2S) float32 fields, std 1; each image crops both at random."""

    texture: np.ndarray
    noise: np.ndarray


def make_banks(seed: int, size: int) -> NoiseBanks:
    """The banks for images of `size` pixels: texture mixes fine, medium and coarse grain."""
    rng = np.random.default_rng([seed, 0, 1])
    n = 2 * size
    scales = ((0.5, 0.6), (0.7, size / 100), (0.6, size / 20))  # (weight, std in pixels)
    texture = sum(weight * _smooth_noise(rng, n, sigma) for weight, sigma in scales)
    texture = (texture / texture.std()).astype(np.float32)
    return NoiseBanks(texture, rng.standard_normal((n, n), dtype=np.float32))


def _blur(planes: np.ndarray) -> None:
    """Blur (3, S, S) uint16 colour planes in place by [1, 2, 1] / 4 along both image axes."""
    for view in (planes, planes.transpose(0, 2, 1)):
        inner = view[:, 1:-1]
        total = view[:, :-2] + view[:, 2:]
        total += inner
        total += inner
        total >>= 2
        inner[...] = total


def render(paint: np.ndarray, rng: np.random.Generator, banks: NoiseBanks) -> np.ndarray:
    """The (S, S, 3) uint8 photo of a paint map: colours, blur, texture, a light gradient and noise.
    Colours are planar (3, S, S) and texture, light and noise grey (S, S): numpy broadcasts
    over a leading axis several times faster than over a trailing axis of 3."""
    size = paint.shape[0]
    palette, amplitude = sample_palette(rng)
    colours = np.take(palette.T, paint, axis=1)
    blurs = int(_pick(rng, ("0", "1", "2"), (0.4, 0.45, 0.15)))
    if blurs:
        colours = colours.astype(np.uint16)
        for _ in range(blurs):
            _blur(colours)
    (ty, tx), (ny, nx) = rng.integers(0, size, (2, 2)).tolist()
    shade = np.take(amplitude, paint) * banks.texture[ty : ty + size, tx : tx + size]
    shade += rng.uniform(1.0, 6.0) * banks.noise[ny : ny + size, nx : nx + size]
    ramp = np.linspace(-0.5, 0.5, size, dtype=np.float32)
    gx, gy = rng.uniform(-0.6, 0.6, 2).tolist()
    light = rng.uniform(0.75, 1.15) + gy * ramp[:, None] + gx * ramp[None, :]
    shade *= light
    image = np.multiply(colours, light, dtype=np.float32)
    image += shade
    planes = np.clip(image, 0.0, 255.0, out=image).astype(np.uint8)
    return np.asarray(Image.merge("RGB", [Image.fromarray(plane) for plane in planes]))


def make_face(
    index: int, seed: int, size: int, banks: NoiseBanks
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Face `index` of a seed: image (S, S, 3) uint8, labels (S, S) uint8, landmarks (70, 2) px."""
    rng = np.random.default_rng([seed, index, 0])
    canvas = Image.new("L", (size, size))
    draw = ImageDraw.Draw(canvas)
    draw_background(draw, rng, size)
    shape = sample_shape(rng, size)
    sketch = Sketch(shape.frame)
    for part in (draw_back_hair, draw_body, draw_head, draw_hair, draw_beard, draw_features,
                 draw_glasses, draw_facewear, draw_headwear):  # z-order: later parts cover earlier
        part(sketch, shape)
    sketch.paint(draw)
    paint = np.asarray(canvas)
    return render(paint, rng, banks), np.take(PAINT_TO_LABEL, paint), landmarks(shape)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of an (H, W) grey or (H, W, 3) RGB uint8 array: 'Sub' filter, zlib level 1.
    Pillow's adaptive per-row filter costs ~4 ms per 256x256 RGB image; this ~1.5 ms."""
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else 3
    rows = pixels.reshape(height, width * channels)
    filtered = np.empty((height, width * channels + 1), np.uint8)
    filtered[:, 0] = 1
    filtered[:, 1 : channels + 1] = rows[:, :channels]
    np.subtract(rows[:, channels:], rows[:, :-channels], out=filtered[:, channels + 1 :])
    strategy = zlib.Z_RLE if channels == 1 else zlib.Z_HUFFMAN_ONLY  # the fastest for each
    packer = zlib.compressobj(1, zlib.DEFLATED, 15, 8, strategy)
    data = packer.compress(filtered.tobytes()) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0 if channels == 1 else 2, 0, 0, 0)
    chunks = _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def _check_args(num_images: int, image_size: int, seed: int) -> None:
    if num_images < 1 or image_size < MIN_IMAGE_SIZE or seed < 0:
        raise DataError(f"synthetic faces need num_images >= 1, image_size >= {MIN_IMAGE_SIZE} "
                        f"and seed >= 0; got num_images {num_images}, image_size {image_size}, "
                        f"seed {seed}.")


def write_synthetic_faces(
    output_dir: str | Path, num_images: int, image_size: int = 256, seed: int = 0
) -> None:
    """Write {id}.png, {id}_seg.png and {id}_ldmks.txt for ids 000000.. into `output_dir`."""
    _check_args(num_images, image_size, seed)
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    banks = make_banks(seed, image_size)
    width = max(6, len(str(num_images - 1)))  # ids sort in index order
    for index in range(num_images):
        image, labels, points = make_face(index, seed, image_size, banks)
        id_ = f"{index:0{width}d}"
        (output / f"{id_}.png").write_bytes(encode_png(image))
        (output / f"{id_}_seg.png").write_bytes(encode_png(labels))
        lines = "".join(f"{x:.3f} {y:.3f}\n" for x, y in points.tolist())
        (output / f"{id_}_ldmks.txt").write_text(lines)


def ensure_synthetic_faces(cache_dir: Path, num_images: int, image_size: int, seed: int) -> Path:
    """The folder cache_dir/synthetic/n{N}_s{S}_seed{K}, made once (atomically, under a lock)."""
    _check_args(num_images, image_size, seed)
    name = f"n{num_images}_s{image_size}_seed{seed}"
    target = Path(cache_dir).expanduser().resolve() / "synthetic" / name
    return build_once(target, lambda tmp: write_synthetic_faces(tmp, num_images, image_size, seed))

