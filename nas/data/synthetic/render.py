"""The paint and the photo: a studio of texture and noise fields that every face of one size
shares, and the render of a paint map into an RGB image and its label map, in packed integers."""

from __future__ import annotations

import bisect
import functools
import itertools
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from nas.data.synthetic.geometry import PAINT_TO_LABEL
from nas.data.synthetic.palette import sample_palette


def _pick(u: float, options: tuple[str, ...], weights: tuple[float, ...]) -> str:
    """The option that a uniform number `u` in [0, 1) falls on, by weight."""
    return options[bisect.bisect(list(itertools.accumulate(weights)), u * sum(weights))]


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
        pairs = scratch[: size * size - 1]  # along rows on the flat array: faster...
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
