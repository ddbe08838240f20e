"""The facial features of a synthetic face: eyes, brows, nose and mouth."""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from nas.data.synthetic.geometry import FaceShape, Sketch, cat, ellipse, paint_index, unit_arc


@cache
def _eye_template(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The closed eye outline, upper lid left to right then lower lid back: x, upper and lower
    weights, so that u = centre + half_width x and v = eye_v - up upper + low lower."""
    x, arc = unit_arc(n)
    zero = np.zeros(n)
    return cat(x, x[::-1]), cat(arc, zero), cat(zero, arc[::-1])


def _band(shape: FaceShape, side: int, center: float, half: float) -> tuple[list, list]:
    """The eye cut by the vertical band center +- half: the visible iris or pupil. Plain Python:
    numpy costs more than it saves on six points."""
    c, hw, ev = side * shape.eye_sep, shape.eye_hw, shape.eye_v
    lo, hi = max(center - half, c - hw), min(center + half, c + hw)
    x = [(lo + (hi - lo) * k / 5 - c) / hw for k in range(6)]
    arc = [math.sqrt(max(1.0 - t * t, 0.0)) for t in x]
    u = [c + t * hw for t in x]
    return u + u[::-1], [ev - shape.eye_up * a for a in arc] + [
        ev + shape.eye_low * a for a in arc[::-1]
    ]


def _draw_eye(sketch: Sketch, shape: FaceShape, side: int) -> None:
    x, upper, lower = _eye_template(11)
    label = "right_eye" if side < 0 else "left_eye"
    u = side * shape.eye_sep + shape.eye_hw * x
    sketch.poly(paint_index(label), u, shape.eye_v - shape.eye_up * upper + shape.eye_low * lower)
    pupil = side * shape.eye_sep + shape.gaze
    sketch.poly(paint_index(label, 1), *_band(shape, side, pupil, shape.iris_hw))
    sketch.poly(paint_index(label, 2), *_band(shape, side, pupil, shape.iris_hw * 0.45))


@cache
def _brow_template(side: int, n: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The closed brow outline: x, arch and thickness weights (thickest at the inner end)."""
    x, _ = unit_arc(n)
    arch, taper = 1.0 - x * x, (0.4 + 0.6 * np.linspace(0.5, 1.0, n))[::-side]
    return cat(x, x[::-1]), cat(arch, arch[::-1]), cat(np.zeros(n), taper[::-1])


def _draw_brow(sketch: Sketch, shape: FaceShape, side: int) -> None:
    x, arch, thick = _brow_template(side)
    label = "right_brow" if side < 0 else "left_brow"
    u = side * shape.eye_sep + shape.brow_hw * x
    v = shape.brow_v - shape.brow_arch * arch + shape.brow_thick * thick
    sketch.poly(paint_index(label), u, v)


def _draw_nose(sketch: Sketch, shape: FaceShape) -> None:
    top, tip, w = shape.eye_v, shape.nose_v, shape.nose_w
    u = np.array([0.06, 0.09, 0.6 * w, w, 0.75 * w, 0.0])
    v = np.array([top, tip - 0.15, tip - 0.06, tip, tip + 0.045, tip + 0.06])
    sketch.poly(paint_index("nose"), cat(u, -u[-2::-1]), cat(v, v[-2::-1]))
    bridge = np.array([top + 0.05, top + 0.05, tip - 0.02, tip - 0.02])
    sketch.poly(paint_index("nose", 2), np.array([-0.03, 0.03, 0.04, -0.04]), bridge)
    for side in (-1, 1):
        sketch.poly(paint_index("nose", 1), *ellipse(side * 0.45 * w, tip + 0.03, 0.05, 0.018, 10))


@cache
def _mouth_template(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x from -1 to 1, x^2, the lip body 1 - x^2 and the upper lip's Cupid's bow profile."""
    x = np.linspace(-1.0, 1.0, n)
    bow = 1.0 - np.abs(x) ** 1.5 - 0.35 * np.exp(-((x / 0.15) ** 2))  # dips at the middle
    return x, x * x, 1.0 - x * x, np.maximum(bow, 0.1)


def mouth_curves(shape: FaceShape, n: int = 9) -> dict[str, np.ndarray]:
    """u and the v of the four lip curves of the mouth, left to right."""
    x, square, body, bow = _mouth_template(n)
    mid = shape.mouth_v - shape.smile * square
    half_open = (shape.mouth_open / 2) * body
    inner_top, inner_bottom = mid - half_open, mid + half_open
    return {
        "u": shape.mouth_hw * x,
        "outer_top": inner_top - shape.lip_top * bow,
        "inner_top": inner_top,
        "inner_bottom": inner_bottom,
        "outer_bottom": inner_bottom + shape.lip_bottom * body,
    }


def _draw_mouth(sketch: Sketch, shape: FaceShape) -> None:
    m = mouth_curves(shape)
    around = cat(m["u"], m["u"][::-1])
    sketch.poly(paint_index("top_lip"), around, cat(m["outer_top"], m["inner_top"][::-1]))
    sketch.poly(paint_index("bottom_lip"), around, cat(m["inner_bottom"], m["outer_bottom"][::-1]))
    if shape.mouth_open > 0:
        opening = cat(m["inner_top"], m["inner_bottom"][::-1])
        sketch.poly(paint_index("mouth_interior"), around, opening)
        teeth = m["inner_top"] + 0.35 * (m["inner_bottom"] - m["inner_top"])
        sketch.poly(
            paint_index("mouth_interior", 1),
            cat(m["u"][2:-2], m["u"][-3:1:-1]),
            cat(m["inner_top"][2:-2], teeth[-3:1:-1]),
        )


def draw_features(sketch: Sketch, shape: FaceShape) -> None:
    """Paint brows, eyes, nose and mouth over the skin (and over any beard)."""
    for side in (-1, 1):
        _draw_brow(sketch, shape, side)
        _draw_eye(sketch, shape, side)
    _draw_nose(sketch, shape)
    _draw_mouth(sketch, shape)
