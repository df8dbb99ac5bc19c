"""Plate colour from a rectified crop, and what each colour allows the text to be (GA 36-2018).

The colour of a Chinese plate says which kind of plate it is, and so how many characters it
has: blue plates (small cars) are standard 7-character plates without a special suffix; yellow
plates (large vehicles, trailers 挂, driving-school cars 学) are standard plates, with or without
a suffix, or large new-energy plates (yellow-green, 8 characters ending in D/F); green plates
(white-to-green gradient, small new-energy cars) have 8 characters. Readers use it to reject a
reading of the wrong length for the plate it came from (a green plate read as 7 characters has
lost one) and to pick the most likely reading that fits instead.

The colour is the median hue of the crop's saturated, not-dark pixels: the background's, since
plate characters are white or black. Crops without enough saturated pixels (white police plates,
black Hong Kong/Macau plates, grey infrared night images) or with a hue outside the three bands
get ``None``: no constraint.
"""

from __future__ import annotations

import cv2
import numpy as np

from vision.plate.grammar import Template
from vision.types import Image, PlateColour

HUE_BANDS: tuple[tuple[PlateColour, int, int], ...] = (
    ("yellow", 12, 34),
    ("green", 35, 90),
    ("blue", 95, 130),
)
"""OpenCV hue ranges (0-179) of each colour's plate background."""

MIN_SATURATION = 70
MIN_VALUE = 60
MIN_COLOURED = 0.15
"""Share of saturated, not-dark pixels below which a crop's colour is not judged."""

TEMPLATES_BY_COLOUR: dict[PlateColour, tuple[Template, ...]] = {
    "blue": ("standard",),
    "yellow": ("standard", "standard_suffix", "new_energy_large"),
    "green": ("new_energy_small", "new_energy_large"),
}
"""The :data:`vision.plate.grammar.TEMPLATES` a plate of each colour can match."""


def plate_colour(crop: Image) -> PlateColour | None:
    """The colour of a rectified plate crop (BGR uint8), or ``None`` when it cannot be told.

    Args:
        crop: ``(h, w, 3)`` uint8 BGR, the plate filling most of it (e.g. from
            :func:`vision.plate.rectify.rectify`).
    """
    if crop.ndim != 3 or crop.shape[2] != 3 or crop.size == 0:
        raise ValueError(f"expected a non-empty (h, w, 3) crop, got {crop.shape}")
    hue = background_hue(crop)
    if hue is None:
        return None
    for colour, low, high in HUE_BANDS:
        if low <= hue <= high:
            return colour
    return None


def background_hue(crop: Image) -> float | None:
    """The median OpenCV hue (0-179) of the crop's saturated, not-dark pixels.

    ``None`` when fewer than :data:`MIN_COLOURED` of its pixels are.
    """
    hsv = np.asarray(cv2.cvtColor(crop, cv2.COLOR_BGR2HSV), np.uint8).reshape(-1, 3)
    coloured = (hsv[:, 1] > MIN_SATURATION) & (hsv[:, 2] > MIN_VALUE)
    if coloured.mean() < MIN_COLOURED:
        return None
    return float(np.median(hsv[coloured, 0]))


FOREIGN_SHARE = 0.35
"""Share of saturated pixels above which a crop's hue must be a plate's."""

FOREIGN_HUES: tuple[tuple[str, int, int], ...] = (("red", 0, 7), ("purple", 135, 165), ("red", 170, 179))
"""Hue ranges no plate background has (signs, shop fronts, lorry cabs)."""


def foreign_colour(crop: Image) -> str | None:
    """Why ``crop`` (a rectified plate crop, BGR uint8) is no plate's colour, or ``None``.

    Only a crop mostly of a saturated colour that no plate has (red, purple: a shop sign, a
    lorry's cab) is judged; grey, white, black and the plate hues never are.
    """
    hsv = np.asarray(cv2.cvtColor(crop, cv2.COLOR_BGR2HSV), np.uint8).reshape(-1, 3)
    coloured = (hsv[:, 1] > MIN_SATURATION) & (hsv[:, 2] > MIN_VALUE)
    if coloured.mean() < FOREIGN_SHARE:
        return None
    hue = float(np.median(hsv[coloured, 0]))
    for name, low, high in FOREIGN_HUES:
        if low <= hue <= high:
            return f"{name} background (hue {hue:.0f}) is no plate's colour"
    return None


def colour_rows(crop: Image, colour: PlateColour) -> np.ndarray:
    """Per row of ``crop`` (BGR uint8), the share of its pixels of ``colour``'s plate background.

    ``(h,)`` float32: saturated, not-dark pixels whose hue is in the colour's band.
    """
    low, high = next((lo, hi) for name, lo, hi in HUE_BANDS if name == colour)
    hsv = np.asarray(cv2.cvtColor(crop, cv2.COLOR_BGR2HSV), np.uint8)
    hue = hsv[..., 0]
    mask = (hsv[..., 1] > MIN_SATURATION) & (hsv[..., 2] > MIN_VALUE) & (hue >= low) & (hue <= high)
    return np.asarray(mask.mean(axis=1), np.float32)
