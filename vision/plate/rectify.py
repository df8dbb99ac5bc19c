"""Perspective-rectify a plate from its 4 corners into a fixed-height crop for the reader."""

from __future__ import annotations

import cv2
import numpy as np

from vision.types import F32, Image


def plate_size(corners: F32) -> tuple[float, float]:
    """Width and height of a plate quad (mean of opposite edges), in pixels.

    Args:
        corners: ``(4, 2)`` float32, TL, TR, BR, BL.
    """
    tl, tr, br, bl = corners.astype(np.float64)
    width = (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    height = (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    return float(width), float(height)


def rectify(
    image: Image,
    corners: F32,
    *,
    height: int = 48,
    margin_x: float = 0.06,
    margin_y: float = 0.0,
    stretch: float = 2.0,
    min_aspect: float = 1.5,
    max_aspect: float = 6.0,
) -> Image:
    """Warp the quad ``corners`` of ``image`` into an upright crop of ``height`` pixels.

    The plate fills the crop's inner area; a margin of ``margin_x`` of the plate width on the
    left and right and ``margin_y`` of its height above and below is kept, taken from the
    image itself (so a corner estimate that cuts a character short still shows all of it).
    The plate's aspect ratio (clamped to ``[min_aspect, max_aspect]``) is multiplied by
    ``stretch``: plate characters are twice as tall as wide (45 x 90 mm), and a 2x horizontal
    stretch makes them as square as the printed text the reader was trained on (measured: fewer
    province characters lost). Small plates are upscaled, large ones downscaled.

    Args:
        image: ``(H, W, 3)`` uint8 BGR.
        corners: ``(4, 2)`` float32 plate corners in image pixels, TL, TR, BR, BL.
        height: output height in pixels.
        margin_x: horizontal margin on each side, as a fraction of the plate width.
        margin_y: vertical margin on each side, as a fraction of the plate height.
        min_aspect: smallest plate width / height accepted (a degenerate quad is widened).
        max_aspect: largest plate width / height accepted.
        stretch: horizontal scale applied on top of the plate's aspect ratio.

    Returns:
        ``(height, W, 3)`` uint8 BGR crop.
    """
    if corners.shape != (4, 2):
        raise ValueError(f"corners must be (4, 2), got {corners.shape}")
    width, plate_h = plate_size(corners)
    aspect = float(np.clip(width / max(plate_h, 1e-6), min_aspect, max_aspect))
    inner_h = height / (1 + 2 * margin_y)
    inner_w = inner_h * aspect * stretch
    out_w = max(1, round(inner_w * (1 + 2 * margin_x)))
    x0, y0 = inner_w * margin_x, inner_h * margin_y
    dst = np.array([[x0, y0], [x0 + inner_w, y0], [x0 + inner_w, y0 + inner_h], [x0, y0 + inner_h]],
                   np.float32)
    matrix = cv2.getPerspectiveTransform(corners.astype(np.float32), dst)
    # Downscaling by a large factor aliases with plain bilinear sampling: pre-blur in that case.
    shrink = plate_h / inner_h
    src = np.asarray(cv2.GaussianBlur(image, (0, 0), 0.5 * shrink), np.uint8) if shrink > 2.0 else image
    crop = cv2.warpPerspective(src, matrix, (out_w, height), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(crop, np.uint8)
