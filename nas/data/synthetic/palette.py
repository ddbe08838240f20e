"""The colours of one synthetic face: skin, hair, eyes, lips and accessories, and random
background colours, as a palette indexed by paint index."""

from __future__ import annotations

import functools

import numpy as np

from nas.data.synthetic.geometry import BACKGROUND_SLOTS, SKIN_LIKE_SLOTS, paint_index

# base RGB colours that each face varies; tuples, since numpy costs microseconds per tiny array
SKIN = ((255, 224, 196), (241, 194, 160), (224, 172, 130), (198, 134, 95), (160, 105, 70),
        (110, 70, 45), (75, 50, 35))  # fmt: skip
HAIR = ((20, 15, 12), (55, 35, 22), (100, 65, 40), (160, 115, 65), (215, 180, 120),
        (150, 60, 30), (165, 165, 165), (235, 235, 230))  # fmt: skip
IRIS = ((90, 55, 30), (55, 35, 20), (70, 110, 160), (80, 120, 80), (120, 125, 135))
LIPS = ((185, 95, 95), (160, 80, 85), (200, 50, 75), (120, 40, 60), (205, 125, 120))
MASKS = ((150, 190, 220), (235, 235, 235), (30, 30, 35))
Colour = tuple[float, ...]


def _mix(a: Colour, b: Colour, t: float) -> Colour:
    return tuple(x + (y - x) * t for x, y in zip(a, b, strict=True))


def _times(a: Colour, k: float) -> Colour:
    return tuple(x * k for x in a)


def _face_colours(r: list[float], spare: list[Colour]) -> dict[tuple[str, int], Colour]:
    """(label, slot) -> (R, G, B, texture amplitude) for one face, from 19 uniform numbers `r`
    and 5 random colours `spare` for clothing, glasses and headwear; right_* also colour left_*."""
    skin = tuple(
        x * (0.92 + 0.16 * k)
        for x, k in zip(
            _mix(SKIN[int(r[0] * 7)], SKIN[int(r[1] * 7)], 0.5 * r[2]), r[16:19], strict=True
        )
    )
    hair = HAIR[int(r[3] * 8)] if r[4] < 0.9 else spare[4]
    lips = _mix(skin, LIPS[int(r[5] * 5)], 0.4 + 0.5 * r[6])
    mask = _times(MASKS[int(r[7] * 3)] if r[8] < 0.7 else spare[3], 0.9 + 0.2 * r[9])
    return {
        ("skin", 0): (*skin, 3),
        ("skin", 2): (*_mix(skin, (220, 90, 90), 0.15), 3),
        ("nose", 0): (*_times(skin, 0.93), 3),
        ("nose", 1): (*_times(skin, 0.45), 2),
        ("nose", 2): (*_times(skin, 1.08), 2),
        ("right_eye", 0): (*(215 + 35 * r[10],) * 3, 2),
        ("right_eye", 1): (*IRIS[int(r[11] * 5)], 4),
        ("right_eye", 2): (15, 12, 15, 1),
        ("right_brow", 0): (*_mix(hair, (20, 15, 10), 0.4), 12),
        ("right_ear", 0): (*_times(skin, 0.95), 3),
        ("right_ear", 1): (*_times(skin, 0.72), 3),
        ("mouth_interior", 0): (70, 20, 25, 6),
        ("mouth_interior", 1): (225, 220, 205, 4),
        ("top_lip", 0): (*_times(lips, 0.92), 4),
        ("bottom_lip", 0): (*_times(lips, 1.05), 4),
        ("neck", 0): (*_times(skin, 0.86), 3),
        ("hair", 0): (*hair, 22),
        ("hair", 1): (*_times(hair, 0.75), 22),
        ("hair", 2): (*_times(hair, 1.1), 22),
        ("beard", 0): (*_mix(hair, skin, 0.6 * r[12]), 26),
        ("clothing", 0): (*spare[0], 3 + 22 * r[13]),
        ("clothing", 1): (*spare[1], 8),
        ("glasses", 0): (*_times(spare[2], 0.1 + 0.9 * r[14]), 2),
        ("glasses", 1): (*_times(spare[3], 0.3), 2),
        ("headwear", 0): (*spare[4], 4 + 18 * r[15]),
        ("headwear", 1): (*_times(spare[0], 0.8), 6),
        ("facewear", 0): (*mask, 4),
        ("facewear", 1): (*_times(mask, 0.8), 3),
    }


def sample_palette(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per paint index: RGB (256, 3) and texture amplitude in grey levels (256,), as floats;
    background indices get random colours, the last SKIN_LIKE_SLOTS of them skin tones."""
    r = rng.random(69 * 5 + 19 + 3 * SKIN_LIKE_SLOTS + 3)  # one Generator call: each costs µs
    random, r = r[: 69 * 5].reshape(5, 69), r[69 * 5 :]  # 64 background and 5 spare colours
    grey = (random[0] + random[1] + random[2]) / 3
    colours = (255 * (grey + (random[:3] - grey) * random[3])).T  # random saturation
    rgb, amplitude = np.zeros((256, 3)), np.zeros(256)
    rgb[:BACKGROUND_SLOTS], amplitude[:BACKGROUND_SLOTS] = colours[:64], 25 * random[4, :64]
    face = _face_colours(r[:19].tolist(), colours[64:].tolist())
    targets, sources = _slot_indices(tuple(face))
    table = np.array(list(face.values()))[sources]
    rgb[targets], amplitude[targets] = table[:, :3], table[:, 3]
    skin = face["skin", 0][:3]
    choice, tone, shade = r[19 : 19 + 3 * SKIN_LIKE_SLOTS].reshape(3, -1).tolist()
    rgb[BACKGROUND_SLOTS - SKIN_LIKE_SLOTS : BACKGROUND_SLOTS] = [
        _times(SKIN[int(t * 7)] if c < 0.5 else skin, 0.85 + 0.25 * k)
        for c, t, k in zip(choice, tone, shade, strict=True)
    ]
    rgb *= 0.88 + 0.24 * r[-3:]  # colour cast of the light
    return rgb, amplitude


@functools.cache
def _slot_indices(slots: tuple[tuple[str, int], ...]) -> tuple[np.ndarray, np.ndarray]:
    """Paint indices of `slots` and, for each, its row in `slots`; right_* also paint left_*."""
    targets, sources = [], []
    for row, (label, slot) in enumerate(slots):
        for name in {label, label.replace("right", "left")}:
            targets.append(paint_index(name, slot))
            sources.append(row)
    return np.array(targets), np.array(sources)
