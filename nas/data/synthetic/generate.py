"""Built-in synthetic faces in the exact Face Synthetics format: varied, labelled, fast to make."""

from __future__ import annotations

import functools
import math
import os
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

from nas.data.cache import build_once
from nas.data.format import DataError
from nas.data.synthetic.features import draw_features, mouth_curves
from nas.data.synthetic.geometry import FaceShape, Frame, Sketch, cat, outline, span, unit_arc
from nas.data.synthetic.parts import (
    draw_back_hair,
    draw_background,
    draw_beard,
    draw_body,
    draw_facewear,
    draw_glasses,
    draw_hair,
    draw_head,
    draw_headwear,
)
from nas.data.synthetic.png import encode_png
from nas.data.synthetic.render import Studio, _pick, make_studio, render

MIN_IMAGE_SIZE = 16


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
    change per unit of each field. One product replaces dozens of small numpy calls per face."""
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
    rng = np.random.Generator(np.random.PCG64([seed, index, 0]))  # = default_rng, minus its checks
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


# Every file gets this modification time (2023-02-01, UTC), so that the same arguments give the
# same folder digest on every machine: a Ray node that regenerates the faces can prove it.
FILE_TIME_NS = 1_675_209_600 * 10**9


def _write(path: str, data: bytes) -> None:
    """Create or truncate `path` holding `data`; os calls skip Python's buffered file objects."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o666)
    try:
        view = memoryview(data)
        while view:  # a write may take less than all
            view = view[os.write(fd, view) :]
        os.utime(fd, ns=(FILE_TIME_NS, FILE_TIME_NS))
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
