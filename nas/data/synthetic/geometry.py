"""Geometry of the synthetic faces: paint indices, face frames and shapes, sketches, curves."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cache

import numpy as np
from PIL import ImageDraw

from nas.data.format import LABELS

BACKGROUND_SLOTS = 64  # paint indices 0..63 are background colours; 56..63 are skin-like
SKIN_LIKE_SLOTS = 8  # the last background slots get skin tones: face-coloured distractors
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
def ring(n: int) -> np.ndarray:
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
        x = u
        if self.yaw:  # sin(arcsin(u) + yaw), only where the points lie on the surface
            turned = np.sin(np.arcsin(np.minimum(np.maximum(u, -1.0), 1.0)) + self.yaw)
            x = np.where(surface, turned, u)
        c, s = math.cos(self.roll), math.sin(self.roll)
        x, y = x * self.half_width, v * self.half_height
        xy = np.empty((x.size, 2))
        xy[:, 0] = self.cx + c * x - s * y
        xy[:, 1] = self.cy + s * x + c * y
        return xy

    def body(self) -> Frame:
        """Frame of the neck and shoulders: origin at the chin, a third of the roll, no yaw."""
        x, y = -math.sin(self.roll) * self.half_height, math.cos(self.roll) * self.half_height
        return replace(self, cx=self.cx + x, cy=self.cy + y, roll=self.roll / 3, yaw=0.0)


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


# rows all False and all True: a slice is cheaper than np.full (polygons have < 1024 points)
_FLAGS = np.array([[False] * 1024, [True] * 1024])


class Sketch:
    """Polygons and lines in face coordinates, mapped to pixels in one numpy pass per frame
    (head and body) and then painted in the order they were added."""

    def __init__(self, head: Frame) -> None:
        self.frames = (head, head.body())
        self.points: tuple[list, list] = ([], [])  # per frame: (u, v, surface) arrays
        self.sizes = [0, 0]
        self.items: list[tuple[int, int, int, int, int]] = []  # frame, start, stop, paint, width

    def poly(
        self,
        paint: int,
        u: np.ndarray,
        v: np.ndarray,
        surface: bool | np.ndarray = True,
        body: bool = False,
        width: int = 0,
    ) -> None:
        """Add a filled polygon, or with `width` > 0 a polyline `width` pixels wide."""
        frame, n = int(body), len(u)
        flags = surface if isinstance(surface, np.ndarray) else _FLAGS[int(surface), :n]
        self.points[frame].append((u, v, flags))
        self.items.append((frame, self.sizes[frame], self.sizes[frame] + n, paint, width))
        self.sizes[frame] += n

    def paint(self, draw: ImageDraw.ImageDraw) -> None:
        """Draw every shape, in the order added, as its paint index onto `draw`."""
        flat: list[list[float]] = []
        for frame, points in zip(self.frames, self.points, strict=True):
            if points:
                u, v, surface = (np.concatenate(part) for part in zip(*points, strict=True))
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
    *parts: tuple[np.ndarray, np.ndarray, bool],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate (u, v, surface) pieces into one (u, v, surface-per-point) polygon."""
    return (
        cat(*(p[0] for p in parts)),
        cat(*(p[1] for p in parts)),
        cat(*(_FLAGS[int(p[2]), : len(p[0])] for p in parts)),
    )


def ellipse(cu: float, cv: float, a: float, b: float, n: int = 20) -> tuple[np.ndarray, np.ndarray]:
    t = ring(n)
    return cu + a * np.cos(t), cv + b * np.sin(t)


def outline(shape: FaceShape, t: np.ndarray, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Head outline at angles t (0 = right of image, pi/2 = chin); the jaw tapers below v = 0."""
    u, v = np.cos(t), np.sin(t)
    u = np.where(v > 0, u * (1.0 - shape.jaw_taper * v * v), u)
    return u * scale, v * scale


@cache
def unit_arc(n: int) -> tuple[np.ndarray, np.ndarray]:
    """x from -1 to 1 in n steps and sqrt(1 - x^2), the unit half-ellipse of lids and brows."""
    x = np.linspace(-1.0, 1.0, n)
    return x, np.sqrt(1.0 - x * x)
