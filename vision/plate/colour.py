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

from typing import Any

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


PLATE_SATURATION = 150
"""Least saturation of a pixel counted as a plate's own paint by :func:`coloured_quads`: a yellow
plate is painted fully saturated (about 230 of 255 on the rendered sets); a cream wall or a pale
yellow building behind it is not (about 110)."""

PLATE_VALUE = 90
"""Least brightness of such a pixel (a shaded or night-dark patch is no plate's paint)."""


def coloured_quads(image: Image, colour: PlateColour, *, aspect: tuple[float, float] = (1.3, 2.7),
                   min_height: float = 16.0, min_fill: float = 0.7, most: int = 3) -> list[np.ndarray]:
    """Quads (TL, TR, BR, BL, float32 ``(4, 2)``) of solid ``colour`` patches shaped like a plate.

    Pixels of the colour's hue band, strongly saturated and not dark (a plate's paint,
    :data:`PLATE_SATURATION`), are joined into patches; a patch counts when the rectangle around
    it (rotated to fit) is ``aspect`` wide for its height, at least ``min_height`` pixels high,
    and filled by the patch's outline for ``min_fill`` of its area (a plate is a solid rectangle;
    its characters are holes inside the outline). The ``most`` largest are returned, largest
    first; each quad is the patch's corners (:func:`_corners`), the top edge first.

    Args:
        image: ``(H, W, 3)`` uint8 BGR.
        colour: which plate colour's hue band to look for.
        aspect: the rectangle's least and greatest width / height.
        min_height: the rectangle's least height (pixels).
        min_fill: the least share of the rectangle the patch's outline fills.
        most: how many patches to return at most.
    """
    low, high = next((lo, hi) for name, lo, hi in HUE_BANDS if name == colour)
    hsv = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2HSV), np.uint8)
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    mask = ((hue >= low) & (hue <= high) & (sat >= PLATE_SATURATION) & (val >= PLATE_VALUE)).astype(np.uint8)
    mask = np.asarray(cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)), np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    found: list[tuple[float, np.ndarray]] = []
    for contour in contours:
        area = float(cv2.contourArea(contour))
        if area < min_height * min_height * aspect[0] * min_fill:
            continue
        rect = cv2.minAreaRect(contour)
        w, h = rect[1]
        short, long = min(w, h), max(w, h)
        if short < min_height or not aspect[0] <= long / short <= aspect[1] or area < min_fill * w * h:
            continue
        found.append((area, _corners(contour, rect)))
    found.sort(key=lambda f: -f[0])
    return [quad for _, quad in found[:most]]


def _corners(contour: np.ndarray, rect: Any) -> np.ndarray:
    """The 4 corners (TL, TR, BR, BL) of a patch: its outline's hull cut to 4 points, else ``rect``'s.

    A plate seen at an angle is a trapezoid, not a rectangle: its hull, simplified to the
    fewest points that stay within a few percent of its perimeter, gives its corners.
    """
    hull = cv2.convexHull(contour)
    perimeter = float(cv2.arcLength(hull, True))
    points = np.asarray(cv2.boxPoints(rect), np.float32)
    for share in (0.01, 0.02, 0.03, 0.05, 0.08):
        approx = cv2.approxPolyDP(hull, share * perimeter, True)
        if len(approx) == 4:
            points = approx.reshape(4, 2).astype(np.float32)
            break
        if len(approx) < 4:
            break
    return _ordered(points)


def _ordered(points: np.ndarray) -> np.ndarray:
    """4 corners of a roughly upright quad as TL, TR, BR, BL (clockwise from the top left one)."""
    centre = points.mean(axis=0)
    order = np.argsort(np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0]))
    clockwise = points[order]  # image y points down: increasing angle runs clockwise
    start = int(np.argmin(clockwise.sum(axis=1)))
    return np.asarray(np.roll(clockwise, -start, axis=0), np.float32)
