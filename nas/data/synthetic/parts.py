"""The parts of a synthetic face around its features: head, hair, beard, body, accessories,
and the cluttered background."""

from __future__ import annotations

import math

import numpy as np
from PIL import ImageDraw

from nas.data.synthetic.geometry import (
    BACKGROUND_SLOTS,
    SKIN_LIKE_SLOTS,
    FaceShape,
    Sketch,
    cat,
    ellipse,
    joined,
    outline,
    paint_index,
    ring,
    span,
)


def draw_background(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: int) -> None:
    """Fill with background colour 0, then 6-19 random shapes in the other background colours.
    Plain Python floats: numpy costs microseconds per call on a handful of numbers."""
    draw.rectangle((0, 0, size, size), fill=0)
    count = int(rng.integers(6, 20))
    numbers = rng.random(count * 16).tolist()  # one Generator call draws every shape
    for a in (numbers[k : k + 16] for k in range(0, len(numbers), 16)):
        skin_like = a[0] < 0.25
        low = BACKGROUND_SLOTS - SKIN_LIKE_SLOTS if skin_like else 1
        slot = int(low + a[1] * (BACKGROUND_SLOTS - low))
        cx, cy = (a[2] * 1.2 - 0.1) * size, (a[3] * 1.2 - 0.1) * size
        rx, ry = (0.03 + 0.32 * a[4]) * size, (0.03 + 0.32 * a[5]) * size
        kind = int(a[6] * 4)
        if kind == 0 or skin_like:
            draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=slot)
        elif kind == 1:
            ends = [cx - rx, cy - ry * (2 * a[7] - 1), cx + rx, cy + ry * (2 * a[7] - 1)]
            draw.line(ends, fill=slot, width=1 + int(a[8] * (1 + size // 24)))
        else:  # a random quadrilateral, or a polygon of 3-6 corners
            corners = 4 if kind == 2 else 3 + int(a[7] * 4)
            angles = sorted(2 * math.pi * t for t in a[9 : 9 + corners])
            xy = [(cx + rx * math.cos(t), cy + ry * math.sin(t)) for t in angles]
            draw.polygon([v for point in xy for v in point], fill=slot)


def draw_back_hair(sketch: Sketch, shape: FaceShape) -> None:
    """Long hair behind the head, neck and shoulders."""
    if shape.hair != "long":
        return
    t = span(np.pi, 2 * np.pi, 12)
    r, length = 1.0 + shape.hair_volume, shape.hair_length
    width = 1.1 + 0.3 * (length - 1.0)
    u = cat(np.cos(t) * r * 1.05, [1.15 * r, width, -width, -1.15 * r])
    v = cat(np.sin(t) * r, [0.6, length, length, 0.6])
    sketch.poly(paint_index("hair", 1), u, v, surface=False)


def _ellipse_band(
    a: float, b: float, cv: float, top: float, bottom: float
) -> tuple[np.ndarray, np.ndarray]:
    """The part of the ellipse (0, cv, a, b) between heights top and bottom."""
    v = span(max(top, cv - b), min(bottom, cv + b), 6)
    u = a * np.sqrt(np.maximum(1.0 - ((v - cv) / b) ** 2, 0.0))
    return cat(u, -u[::-1]), cat(v, v[::-1])


def draw_body(sketch: Sketch, shape: FaceShape) -> None:
    """Neck, shoulders in clothing with optional stripes, and a round, V or turtle neckline."""
    nw, sv = shape.neck_w, shape.shoulder_v
    neck, clothing = paint_index("neck"), paint_index("clothing")
    sketch.poly(neck, [-nw, nw, 1.1 * nw, -1.1 * nw], [-0.7, -0.7, sv + 0.6, sv + 0.6], False, True)
    sketch.poly(clothing, *ellipse(0.0, sv + 1.3, shape.shoulder_w, 1.3, 28), False, body=True)
    for k in range(shape.stripes):
        top = sv + 0.12 + 0.3 * k
        band = _ellipse_band(shape.shoulder_w, 1.3, sv + 1.3, top, top + 0.13)
        sketch.poly(paint_index("clothing", 1), *band, False, body=True)
    if shape.neckline == "round":
        sketch.poly(neck, *ellipse(0.0, sv, 0.9 * nw, 0.2, 14), False, body=True)
    elif shape.neckline == "v":
        v_neck = [sv - 0.02, sv - 0.02, sv + 0.45]
        sketch.poly(neck, [-0.95 * nw, 0.95 * nw, 0.0], v_neck, False, True)
    else:
        turtle = [-1.05 * nw, 1.05 * nw, 1.1 * nw, -1.1 * nw], [-0.35, -0.35, sv + 0.2, sv + 0.2]
        sketch.poly(clothing, *turtle, False, True)


def draw_hair(sketch: Sketch, shape: FaceShape) -> None:
    """Hair over the skull down to the hairline and sideburns; long hair may frame the face."""
    if shape.hair == "bald":
        return
    hl, sb = shape.hairline, shape.sideburn
    t = span(np.pi - 0.08, 2 * np.pi + 0.08, 16)
    lift = np.maximum(-np.sin(t), 0.0)
    volume = shape.hair_volume * lift
    outer = (np.cos(t) * (1.04 + 0.6 * volume), np.sin(t) * (1.0 + volume), False)
    hu = np.array([1.0, 0.92, 0.8, 0.45, 0.0, -0.45, -0.8, -0.92, -1.0])
    hv = np.array([sb, sb, hl + 0.14, hl + 0.04, hl, hl + 0.04, hl + 0.14, sb, sb])
    sketch.poly(paint_index("hair"), *joined(outer, (hu, hv, True)))
    if shape.hair == "long" and shape.front_locks:
        for side in (-1, 1):
            u = side * np.array([1.06, 0.9, 0.86, 0.95, 1.25, 1.2])
            v = np.array([-0.4, -0.1, 0.5, 1.0, 0.9 * shape.hair_length, 0.0])
            sketch.poly(paint_index("hair", 2), u, v, surface=False)


def draw_beard(sketch: Sketch, shape: FaceShape) -> None:
    """A full beard, a goatee or a moustache; the lips are painted over it afterwards."""
    if shape.beard == "none":
        return
    mv, mw, cheek = shape.mouth_v, shape.mouth_hw, shape.beard_cheek
    top = mv - shape.lip_top - 0.05
    if shape.beard == "full":
        chin = (*outline(shape, span(np.pi - 0.3, 0.3, 12), 1.02), False)
        u = np.array([0.9, 0.5, mw + 0.06, 0.2, 0.0, -0.2, -mw - 0.06, -0.5, -0.9])
        v = np.array([cheek, cheek + 0.08, mv, top, top - 0.01, top, mv, cheek + 0.08, cheek])
        sketch.poly(paint_index("beard"), *joined(chin, (u, v, True)))
        return
    if shape.beard == "goatee":
        chin = (*outline(shape, span(np.pi / 2 + 0.45, np.pi / 2 - 0.45, 7)), False)
        below_lip = (np.array([0.28, -0.28]), np.full(2, mv + 0.02), True)
        sketch.poly(paint_index("beard"), *joined(chin, below_lip))
    u = np.array([-mw - 0.04, -0.5 * mw, 0.0, 0.5 * mw, mw + 0.04, 0.6 * mw, -0.6 * mw])
    low = mv - 0.6 * shape.lip_top
    v = np.array([mv + 0.02, top, top - 0.015, top, mv + 0.02, low, low])
    sketch.poly(paint_index("beard"), u, v)


def draw_glasses(sketch: Sketch, shape: FaceShape) -> None:
    """Frames (and dark lenses for sunglasses) around the eyes, a bridge and the temple arms."""
    if shape.glasses == "none":
        return
    sep, hw, ev = shape.eye_sep, shape.lens_hw, shape.eye_v
    width, paint = max(1, round(0.035 * shape.frame.half_width)), paint_index("glasses")
    t = span(0.0, 2 * np.pi, 17)
    c, s = np.cos(t), np.sin(t)
    for side in (-1, 1):
        u = side * sep + hw * np.sign(c) * np.abs(c) ** 0.6
        v = ev + shape.lens_hh * np.sign(s) * np.abs(s) ** 0.6
        if shape.glasses == "sun":
            sketch.poly(paint_index("glasses", 1), u, v)
        sketch.poly(paint, u, v, width=width)
        arm_u, arm_v = np.array([side * (sep + hw), side * 1.0]), np.array([ev - 0.03, ev])
        sketch.poly(paint, arm_u, arm_v, width=width)
    bridge_u, bridge_v = np.array([hw - sep, 0.0, sep - hw]), ev - np.array([0.03, 0.06, 0.03])
    sketch.poly(paint, bridge_u, bridge_v, width=width)


def draw_facewear(sketch: Sketch, shape: FaceShape) -> None:
    """A pleated mask over nose, mouth and chin, or a bandana hanging below the chin."""
    nv = shape.nose_v
    if shape.facewear == "mask":
        u = np.array([-0.97, -0.6, -0.25, 0.0, 0.25, 0.6, 0.97])
        v = nv - np.array([0.05, 0.14, 0.19, 0.2, 0.19, 0.14, 0.05])
        chin = (*outline(shape, span(0.2, np.pi - 0.2, 12), 1.01), False)
        sketch.poly(paint_index("facewear"), *joined((u, v, True), chin))
        width = max(1, round(0.02 * shape.frame.half_width))
        for height in (nv + 0.1, shape.mouth_v, shape.mouth_v + 0.15):
            sketch.poly(
                paint_index("facewear", 1),
                np.array([-0.7, 0.0, 0.7]),
                np.array([height, height + 0.02, height]),
                width=width,
            )
    elif shape.facewear == "bandana":
        u = np.array([-1.08, 1.08, 1.0, 0.3, 0.0, -0.3, -1.0])
        v = np.array([nv - 0.1, nv - 0.1, 0.9, 1.5, 1.65, 1.5, 0.9])
        sketch.poly(paint_index("facewear"), u, v, surface=False)


def draw_headwear(sketch: Sketch, shape: FaceShape) -> None:
    """A beanie with a folded band, a cap with a brim, or a hat with a wide brim."""
    if shape.headwear == "none":
        return
    hat_v = shape.hat_v
    ru, rv = 1.1 + 0.5 * shape.hair_volume, 1.1 + shape.hair_volume
    t0 = math.asin(min(1.0, -hat_v / rv))
    t = span(np.pi + t0, 2 * np.pi - t0, 14)
    dome_u, dome_v = cat(np.cos(t) * ru, [0.0]), cat(np.sin(t) * rv, [hat_v + 0.04])
    sketch.poly(paint_index("headwear"), dome_u, dome_v, False)
    brim = paint_index("headwear", 1)
    if shape.headwear == "beanie":
        w = ru * math.cos(t0)
        band_v = [hat_v - 0.16, hat_v - 0.16, hat_v + 0.04, hat_v + 0.04]
        sketch.poly(brim, [-w, w, w, -w], band_v, False)
    else:
        a, b = (1.05, 0.1) if shape.headwear == "cap" else (1.6, 0.16)
        shift = 0.4 * math.sin(shape.frame.yaw) if shape.headwear == "cap" else 0.0
        sketch.poly(brim, *ellipse(shift, hat_v, a, b, 20), False)


def draw_head(sketch: Sketch, shape: FaceShape) -> None:
    """Paint the visible ears, then the skin of the whole head outline over their inner edge."""
    for side, label in ((-1, "right_ear"), (1, "left_ear")):
        width = min(max(1.0 - 1.6 * side * shape.frame.yaw, 0.0), 1.6)  # turned-to ear hides
        if shape.ears and width > 0.15:
            a = 0.13 * width
            ear = ellipse(side * (1.0 + 0.6 * a), 0.05, a, 0.22, 14)
            sketch.poly(paint_index(label), *ear, surface=False)
            inner = ellipse(side * (1.0 + 0.7 * a), 0.07, 0.5 * a, 0.13, 10)
            sketch.poly(paint_index(label, 1), *inner, surface=False)
    sketch.poly(paint_index("skin"), *outline(shape, ring(40)), surface=False)
    for side in (-1, 1):
        cheek = ellipse(side * 0.55, shape.nose_v + 0.05, 0.17, 0.1, 12)
        sketch.poly(paint_index("skin", 2), *cheek)
