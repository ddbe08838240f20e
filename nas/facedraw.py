"""Face geometry for the synthetic faces: sampled shape -> painted regions and 70 landmarks."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cache

import numpy as np
from PIL import ImageDraw

from nas.facesynth import LABELS

BACKGROUND_SLOTS = 64  # paint indices 0..63 are background colours; 56..63 are skin-like
SLOTS_PER_LABEL = 10  # label k >= 1 owns paint indices 64 + 10 (k - 1) .. + 9
_LABEL = {name: index for index, name in enumerate(LABELS)}


def paint_index(label: str, slot: int = 0) -> int:
    """Paint index of colour `slot` of region `label`; the label map is PAINT_TO_LABEL[paint]."""
    return BACKGROUND_SLOTS + (_LABEL[label] - 1) * SLOTS_PER_LABEL + slot


def _paint_to_label() -> np.ndarray:
    lut = np.zeros(256, np.uint8)
    for label in range(1, len(LABELS)):
        start = BACKGROUND_SLOTS + (label - 1) * SLOTS_PER_LABEL
        lut[start : start + SLOTS_PER_LABEL] = label
    return lut


PAINT_TO_LABEL = _paint_to_label()


@cache
def _unit(n: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, n)


@cache
def _ring(n: int) -> np.ndarray:
    return np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)


def span(start: float, stop: float, n: int) -> np.ndarray:
    """np.linspace(start, stop, n), several times faster for the small n drawn here."""
    return start + (stop - start) * _unit(n)


def cat(*parts: np.ndarray) -> np.ndarray:
    return np.concatenate(parts)


@dataclass(frozen=True)
class Frame:
    """Face coordinates (u across, v down; the head outline spans -1..1) to pixels."""

    cx: float
    cy: float
    half_width: float
    half_height: float
    roll: float
    yaw: float

    def pixels(self, u: np.ndarray, v: np.ndarray, surface: bool | np.ndarray = True) -> np.ndarray:
        """(N, 2) pixel xy; `surface` points sit on the turned face (a sphere rotated by yaw)."""
        turned = np.sin(np.arcsin(np.minimum(np.maximum(u, -1.0), 1.0)) + self.yaw)
        x = np.where(surface, turned, u) * self.half_width
        y = v * self.half_height
        c, s = math.cos(self.roll), math.sin(self.roll)
        xy = np.empty((x.size, 2))
        xy[:, 0] = self.cx + c * x - s * y
        xy[:, 1] = self.cy + s * x + c * y
        return xy

    def body(self) -> Frame:
        """Frame of the neck and shoulders: origin at the chin, a third of the roll, no yaw."""
        (x, y), = self.pixels(np.zeros(1), np.ones(1), surface=False)
        return replace(self, cx=float(x), cy=float(y), roll=self.roll / 3, yaw=0.0)


@dataclass(frozen=True)
class FaceShape:
    """Every geometric choice of one synthetic face; lengths in face units (see Frame)."""

    frame: Frame
    jaw_taper: float
    eye_v: float
    eye_sep: float
    eye_hw: float
    eye_up: float
    eye_low: float
    iris_hw: float
    gaze: float
    brow_v: float
    brow_hw: float
    brow_thick: float
    brow_arch: float
    nose_v: float
    nose_w: float
    mouth_v: float
    mouth_hw: float
    lip_top: float
    lip_bottom: float
    mouth_open: float
    smile: float
    hair: str  # bald | short | long
    hair_volume: float
    hairline: float
    sideburn: float
    hair_length: float
    front_locks: bool
    ears: bool
    beard: str  # none | full | goatee | moustache
    beard_cheek: float
    glasses: str  # none | clear | sun
    lens_hw: float
    lens_hh: float
    facewear: str  # none | mask | bandana
    headwear: str  # none | beanie | cap | hat
    hat_v: float
    shoulder_v: float
    shoulder_w: float
    neck_w: float
    neckline: str  # round | v | turtle
    stripes: int


class Sketch:
    """Polygons and lines in face coordinates, mapped to pixels in one numpy pass per frame
    (head and body) and then painted in the order they were added."""

    def __init__(self, head: Frame) -> None:
        self.frames = (head, head.body())
        self.points: tuple[list, list] = ([], [])  # per frame: (u, v, surface) arrays
        self.sizes = [0, 0]
        self.items: list[tuple[int, int, int, int, int]] = []  # frame, start, stop, paint, width

    def poly(self, paint: int, u: np.ndarray, v: np.ndarray, surface: bool | np.ndarray = True,
             body: bool = False, width: int = 0) -> None:
        """Add a filled polygon, or with `width` > 0 a polyline `width` pixels wide."""
        frame, n = int(body), len(u)
        flags = surface if isinstance(surface, np.ndarray) else np.full(n, surface)
        self.points[frame].append((u, v, flags))
        self.items.append((frame, self.sizes[frame], self.sizes[frame] + n, paint, width))
        self.sizes[frame] += n

    def paint(self, draw: ImageDraw.ImageDraw) -> None:
        """Draw every shape, in the order added, as its paint index onto `draw`."""
        flat: list[list[float]] = []
        for frame, points in zip(self.frames, self.points):
            if points:
                u, v, surface = (np.concatenate(part) for part in zip(*points))
                flat.append(frame.pixels(u, v, surface).ravel().tolist())
            else:
                flat.append([])
        for frame, start, stop, paint, width in self.items:
            xy = flat[frame][2 * start : 2 * stop]
            if width:
                draw.line(xy, fill=paint, width=width)
            else:
                draw.polygon(xy, fill=paint)


def joined(
    *parts: tuple[np.ndarray, np.ndarray, bool]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate (u, v, surface) pieces into one (u, v, surface-per-point) polygon."""
    return (cat(*(p[0] for p in parts)), cat(*(p[1] for p in parts)),
            cat(*(np.full(len(p[0]), p[2]) for p in parts)))


def ellipse(cu: float, cv: float, a: float, b: float, n: int = 20) -> tuple[np.ndarray, np.ndarray]:
    t = _ring(n)
    return cu + a * np.cos(t), cv + b * np.sin(t)


def outline(shape: FaceShape, t: np.ndarray, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Head outline at angles t (0 = right of image, pi/2 = chin); the jaw tapers below v = 0."""
    u, v = np.cos(t), np.sin(t)
    u = np.where(v > 0, u * (1.0 - shape.jaw_taper * v * v), u)
    return u * scale, v * scale


def _lid_curves(
    shape: FaceShape, side: int, n: int = 7
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """u positions left to right and the upper and lower lid v of one eye (side -1 = image left)."""
    x = span(-1.0, 1.0, n)
    arc = np.sqrt(1.0 - x * x)
    u = side * shape.eye_sep + shape.eye_hw * x
    return u, shape.eye_v - shape.eye_up * arc, shape.eye_v + shape.eye_low * arc


def _band(shape: FaceShape, side: int, center: float, half: float) -> tuple[np.ndarray, np.ndarray]:
    """The eye cut by the vertical band center +- half: the visible iris or pupil."""
    c = side * shape.eye_sep
    lo, hi = max(center - half, c - shape.eye_hw), min(center + half, c + shape.eye_hw)
    x = (span(lo, hi, 6) - c) / shape.eye_hw
    arc = np.sqrt(np.maximum(1.0 - x * x, 0.0))
    u = c + x * shape.eye_hw
    upper, lower = shape.eye_v - shape.eye_up * arc, shape.eye_v + shape.eye_low * arc
    return cat(u, u[::-1]), cat(upper, lower[::-1])


def _draw_eye(sketch: Sketch, shape: FaceShape, side: int) -> None:
    u, upper, lower = _lid_curves(shape, side, 11)
    label = "right_eye" if side < 0 else "left_eye"
    sketch.poly(paint_index(label), cat(u, u[::-1]), cat(upper, lower[::-1]))
    pupil = side * shape.eye_sep + shape.gaze
    sketch.poly(paint_index(label, 1), *_band(shape, side, pupil, shape.iris_hw))
    sketch.poly(paint_index(label, 2), *_band(shape, side, pupil, shape.iris_hw * 0.45))


def _brow_curve(shape: FaceShape, side: int, n: int = 5) -> tuple[np.ndarray, np.ndarray]:
    x = span(-1.0, 1.0, n)
    return side * shape.eye_sep + shape.brow_hw * x, shape.brow_v - shape.brow_arch * (1.0 - x * x)


def _draw_brow(sketch: Sketch, shape: FaceShape, side: int) -> None:
    u, v = _brow_curve(shape, side, 7)
    taper = span(0.5, 1.0, 7)[:: -side]  # thickest at the inner end
    thick = shape.brow_thick * (0.4 + 0.6 * taper)
    label = "right_brow" if side < 0 else "left_brow"
    sketch.poly(paint_index(label), cat(u, u[::-1]), cat(v, (v + thick)[::-1]))


def _draw_nose(sketch: Sketch, shape: FaceShape) -> None:
    top, tip, w = shape.eye_v, shape.nose_v, shape.nose_w
    u = np.array([0.06, 0.09, 0.6 * w, w, 0.75 * w, 0.0])
    v = np.array([top, tip - 0.15, tip - 0.06, tip, tip + 0.045, tip + 0.06])
    sketch.poly(paint_index("nose"), cat(u, -u[-2::-1]), cat(v, v[-2::-1]))
    bridge = np.array([top + 0.05, top + 0.05, tip - 0.02, tip - 0.02])
    sketch.poly(paint_index("nose", 2), np.array([-0.03, 0.03, 0.04, -0.04]), bridge)
    for side in (-1, 1):
        sketch.poly(paint_index("nose", 1), *ellipse(side * 0.45 * w, tip + 0.03, 0.05, 0.018, 10))


def _mouth_curves(shape: FaceShape, n: int = 9) -> dict[str, np.ndarray]:
    """u and the v of the four lip curves of the mouth, left to right."""
    x = span(-1.0, 1.0, n)
    bow = 1.0 - np.abs(x) ** 1.5 - 0.35 * np.exp(-((x / 0.15) ** 2))  # Cupid's bow dip
    mid, half_open, body = shape.mouth_v - shape.smile * x * x, shape.mouth_open / 2, 1.0 - x * x
    return {
        "u": shape.mouth_hw * x,
        "outer_top": mid - half_open * body - shape.lip_top * np.maximum(bow, 0.1),
        "inner_top": mid - half_open * body,
        "inner_bottom": mid + half_open * body,
        "outer_bottom": mid + half_open * body + shape.lip_bottom * body,
    }


def _draw_mouth(sketch: Sketch, shape: FaceShape) -> None:
    m = _mouth_curves(shape)
    around = cat(m["u"], m["u"][::-1])
    sketch.poly(paint_index("top_lip"), around, cat(m["outer_top"], m["inner_top"][::-1]))
    sketch.poly(paint_index("bottom_lip"), around, cat(m["inner_bottom"], m["outer_bottom"][::-1]))
    if shape.mouth_open > 0:
        opening = cat(m["inner_top"], m["inner_bottom"][::-1])
        sketch.poly(paint_index("mouth_interior"), around, opening)
        teeth = m["inner_top"] + 0.35 * (m["inner_bottom"] - m["inner_top"])
        sketch.poly(paint_index("mouth_interior", 1), cat(m["u"][2:-2], m["u"][-3:1:-1]),
                    cat(m["inner_top"][2:-2], teeth[-3:1:-1]))


def landmarks(shape: FaceShape) -> np.ndarray:
    """The 68 iBUG points plus the two pupils, (70, 2) pixel xy, in the Face Synthetics order."""
    jaw_u, jaw_v = outline(shape, span(np.pi + 0.15, -0.15, 17))
    (ru, rv), (lu, lv) = (_brow_curve(shape, side) for side in (-1, 1))
    nose_u = cat(np.zeros(4), shape.nose_w * np.array([-0.7, -0.35, 0.0, 0.35, 0.7]))
    nostrils_v = shape.nose_v + np.array([0.03, 0.045, 0.055, 0.045, 0.03])
    nose_v = cat(span(shape.eye_v + 0.03, shape.nose_v, 4), nostrils_v)
    eyes_u, eyes_v = [], []
    for side in (-1, 1):
        u, upper, lower = _lid_curves(shape, side, 4)
        eyes_u.append(cat(u, u[2:0:-1]))
        eyes_v.append(cat(upper, lower[2:0:-1]))
    m = _mouth_curves(shape, 7)
    inner = [0, 2, 3, 4, 6, 4, 3, 2]
    mouth_u = cat(m["u"], m["u"][5:0:-1], m["u"][inner])
    mouth_v = cat(m["outer_top"], m["outer_bottom"][5:0:-1], m["inner_top"][inner[:5]],
                  m["inner_bottom"][inner[5:]])
    pupils_u = np.array([-1.0, 1.0]) * shape.eye_sep + shape.gaze
    u = cat(jaw_u, ru, lu, nose_u, *eyes_u, mouth_u, pupils_u)
    v = cat(jaw_v, rv, lv, nose_v, *eyes_v, mouth_v, np.full(2, shape.eye_v))
    return shape.frame.pixels(u, v, np.arange(70) >= 17)  # the jaw is the outline, not the surface


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
    sketch.poly(paint_index("skin"), *outline(shape, _ring(40)), surface=False)
    for side in (-1, 1):
        cheek = ellipse(side * 0.55, shape.nose_v + 0.05, 0.17, 0.1, 12)
        sketch.poly(paint_index("skin", 2), *cheek)


def draw_features(sketch: Sketch, shape: FaceShape) -> None:
    """Paint brows, eyes, nose and mouth over the skin (and over any beard)."""
    for side in (-1, 1):
        _draw_brow(sketch, shape, side)
        _draw_eye(sketch, shape, side)
    _draw_nose(sketch, shape)
    _draw_mouth(sketch, shape)
