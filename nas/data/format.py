"""The Face Synthetics format that the reader reads and the generator writes: the labels, the
ignore value, the file layout, and the error for data that breaks it."""

from __future__ import annotations

from nas.errors import UserError

LABELS: tuple[str, ...] = (
    "background",
    "skin",
    "nose",
    "right_eye",
    "left_eye",
    "right_brow",
    "left_brow",
    "right_ear",
    "left_ear",
    "mouth_interior",
    "top_lip",
    "bottom_lip",
    "neck",
    "hair",
    "beard",
    "clothing",
    "glasses",
    "headwear",
    "facewear",
)
IGNORE_LABEL = 255
LAYOUT = "{id}.png (RGB image) and {id}_seg.png (8-bit label map) side by side in one flat folder"


class DataError(UserError):
    """A data set folder or file is missing or malformed; the message names it."""
