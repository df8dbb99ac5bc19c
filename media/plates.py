"""A deterministic set of rendered Chinese plates on real photos (tests and ``bench plates``).

No offline set of Chinese plate photos exists, so plates are drawn with Debian's CJK font
(WenQuanYi Micro Hei) at GA 36 proportions and composited onto real photos with a perspective
warp, blur, sensor noise, a brightness/contrast change and JPEG compression. Everything comes
from ``numpy.random.default_rng(seed)``: the same seed gives the same set, pixel for pixel
(for the same OpenCV/Pillow versions). Nothing is cached on disk.

Proportions (millimetres; rendered at :data:`PX_PER_MM`):

* blue (white text) and yellow (black text): 440 x 140, seven 45 x 90 characters with 12 mm
  gaps and a 34 mm gap holding the separator dot after the second character;
* green new-energy (black text, white-to-green gradient): 480 x 140, eight 43 x 90 characters
  with 9 mm gaps and a 49 mm gap after the second character;
* yellow two-row plates: large (lorries, buses, trailers) 440 x 220 (:func:`render_two_row`),
  motorcycles 220 x 140 (:func:`render_motorcycle`); province and letter above, five below.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from vision.plate.grammar import DIGITS, LETTERS, PROVINCES

logger = logging.getLogger(__name__)

Colour = Literal["blue", "yellow", "green"]
COLOURS: tuple[Colour, ...] = ("blue", "yellow", "green")
FONT_PATHS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
)
OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
BACKGROUNDS = ("licenseplate_motion.jpg", "bus.jpg", "building.jpg", "home.jpg", "aero3.jpg",
               "zidane.jpg")
"""Real photos the plates are composited onto (opencv-doc files or :mod:`media.images`)."""

PX_PER_MM = 1.0
NEGATIVE_TEXTS = ("停车场", "HELLO", "出口", "访客车位", "禁止停车", "EXIT 3", "小区入口", "京A")
"""Non-plate texts rendered like plates: the grammar must reject whatever is read from them."""

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class RenderedPlate:
    """One photo with one rendered plate (or sign) on it.

    Attributes:
        image: ``(H, W, 3)`` uint8 BGR photo with the plate composited in.
        text: ground truth, normalised (``京A12345``); the sign's text for negatives.
        colour: plate colour.
        corners: ``(4, 2)`` float32 plate corners in image pixels: TL, TR, BR, BL.
        background: name of the photo used.
        negative: True for a non-plate sign.
        kind: for two-row plates, ``"large"`` (lorries, buses, trailers: 440 x 220 mm) or
            ``"motorcycle"`` (220 x 140 mm); ``""`` for one-row plates.
    """

    image: U8
    text: str
    colour: Colour
    corners: F32
    background: str
    negative: bool = False
    kind: str = ""


@functools.cache
def font_path() -> Path:
    """The first available CJK font of :data:`FONT_PATHS`."""
    for path in FONT_PATHS:
        if path.is_file():
            return path
    raise FileNotFoundError(f"no CJK font found (install fonts-wqy-microhei): {FONT_PATHS}")


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_path()), size)


def load_background(name: str) -> U8:
    """A background photo as BGR uint8 (opencv-doc file, else :func:`media.images.read_image`)."""
    local = OPENCV_DATA / name
    if local.is_file():
        image = cv2.imread(str(local))
        if image is None:
            raise RuntimeError(f"could not decode {local}")
        return np.asarray(image, np.uint8)
    from media.images import read_image

    return read_image(name)


def default_backgrounds() -> dict[str, U8]:
    """Every :data:`BACKGROUNDS` photo that can be loaded (at least the car photo or bus.jpg)."""
    out: dict[str, U8] = {}
    for name in BACKGROUNDS:
        try:
            out[name] = load_background(name)
        except (KeyError, OSError, RuntimeError) as exc:
            logger.warning("background %s unavailable: %s", name, exc)
    if not out:
        raise RuntimeError("no background photos available (install opencv-doc)")
    return out


def random_plate_text(colour: Colour, rng: np.random.Generator) -> str:
    """A random valid plate of ``colour``'s kind (7 characters, 8 for green)."""
    def pick(chars: str, n: int = 1) -> str:
        return "".join(chars[int(i)] for i in rng.integers(0, len(chars), n))

    head = pick(PROVINCES) + pick(LETTERS)
    if colour == "green":
        return head + pick("DF") + pick(LETTERS + DIGITS) + pick(DIGITS, 4)
    # Real plates are mostly digits with up to two letters.
    tail = [pick(DIGITS) for _ in range(5)]
    for pos in rng.choice(5, int(rng.integers(0, 3)), replace=False):
        tail[int(pos)] = pick(LETTERS)
    if colour == "yellow" and rng.random() < 0.15:
        tail[4] = pick("学挂")
    return head + "".join(tail)


def _layout(n_chars: int, plate_w: float) -> list[tuple[float, float]]:
    """(left, width) in mm of each character box."""
    char_w, gap, dot_gap = (45.0, 12.0, 34.0) if n_chars == 7 else (43.0, 9.0, 49.0)
    total = n_chars * char_w + (n_chars - 2) * gap + dot_gap
    x = (plate_w - total) / 2
    boxes = []
    for i in range(n_chars):
        boxes.append((x, char_w))
        x += char_w + (dot_gap if i == 1 else gap)
    return boxes


def _glyph(char: str, box_w: int, box_h: int) -> npt.NDArray[np.float32]:
    """A character's coverage mask stretched to fill ``(box_h, box_w)``, float32 in [0, 1]."""
    font = _font(box_h * 2)
    left, top, right, bottom = font.getbbox(char)
    canvas = PILImage.new("L", (int(right - left) + 4, int(bottom - top) + 4), 0)
    ImageDraw.Draw(canvas).text((2 - left, 2 - top), char, font=font, fill=255)
    full = np.asarray(canvas, np.uint8)
    ys, xs = np.nonzero(full > 0)
    mask: U8 = full[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    if char in DIGITS + LETTERS:  # plate glyphs are heavier than the font's
        mask = np.asarray(cv2.dilate(mask, np.ones((3, 3), np.uint8)), np.uint8)
    # Stretch to the box height; narrow glyphs (1, J) keep their width and are centred.
    natural_w = mask.shape[1] * box_h / mask.shape[0]
    glyph_w = max(1, min(box_w, round(natural_w * 1.3)))
    glyph = cv2.resize(mask, (glyph_w, box_h), interpolation=cv2.INTER_AREA)
    out = np.zeros((box_h, box_w), np.float32)
    x0 = (box_w - glyph_w) // 2
    out[:, x0:x0 + glyph_w] = glyph.astype(np.float32) / 255
    return out


def render_plate(text: str, colour: Colour, *, scale: float = 2.0) -> U8:
    """Draw a flat plate: ``(140*scale*PX_PER_MM, W, 3)`` uint8 BGR (W = 440 or 480 mm)."""
    k = scale * PX_PER_MM
    width_mm = 480.0 if colour == "green" else 440.0
    w, h = round(width_mm * k), round(140 * k)
    if colour == "blue":
        plate = np.empty((h, w, 3), np.float32)
        plate[:] = (170, 60, 10)
        ink = np.array((245, 245, 245), np.float32)
    elif colour == "yellow":
        plate = np.empty((h, w, 3), np.float32)
        plate[:] = (20, 185, 245)
        ink = np.array((15, 15, 15), np.float32)
    else:
        t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        top, bottom = np.array((235, 250, 235), np.float32), np.array((90, 200, 40), np.float32)
        plate = np.broadcast_to(top * (1 - t) + bottom * t, (h, w, 3)).copy()
        ink = np.array((15, 15, 15), np.float32)
    border = max(2, round(3 * k))
    cv2.rectangle(plate, (border, border), (w - border - 1, h - border - 1), ink.tolist(),
                  max(1, round(1.5 * k)))
    boxes = _layout(len(text), width_mm) if len(text) in (7, 8) else _free_layout(len(text), width_mm)
    top_mm, char_h_mm = 25.0, 90.0
    for char, (left_mm, char_w_mm) in zip(text, boxes, strict=True):
        if char == " ":
            continue
        x0, y0 = round(left_mm * k), round(top_mm * k)
        mask = _glyph(char, round(char_w_mm * k), round(char_h_mm * k))[..., None]
        region = plate[y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]]
        region[:] = region * (1 - mask) + ink * mask
    if len(text) in (7, 8):
        dot_x = (boxes[1][0] + boxes[1][1] + boxes[2][0]) / 2
        cv2.circle(plate, (round(dot_x * k), round(70 * k)), round(5 * k), ink.tolist(), -1, cv2.LINE_AA)
    return np.clip(plate, 0, 255).astype(np.uint8)


def _free_layout(n_chars: int, plate_w: float) -> list[tuple[float, float]]:
    char_w = min(45.0, (plate_w - 40) / max(n_chars, 1) - 6)
    x = (plate_w - n_chars * (char_w + 6)) / 2
    return [(x + i * (char_w + 6), char_w) for i in range(n_chars)]


def _place(plate_w: int, plate_h: int, image_shape: tuple[int, ...],
           rng: np.random.Generator) -> F32:
    """Random plate corners (TL, TR, BR, BL) in the photo: size, position, rotation, perspective."""
    h, w = image_shape[:2]
    target_w = float(rng.uniform(0.13, 0.30) * min(w, 1.4 * h))
    target_w = max(target_w, 90.0)
    target_h = target_w * plate_h / plate_w
    angle = np.deg2rad(rng.uniform(-8, 8))
    rect = np.array([[0, 0], [target_w, 0], [target_w, target_h], [0, target_h]], np.float32)
    rect -= rect.mean(axis=0)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    quad = rect @ rot.T
    # Perspective: shrink one side (seen from the side) and the top or bottom (seen from above).
    side = rng.uniform(-0.12, 0.12)
    tilt = rng.uniform(-0.08, 0.08)
    quad[[1, 2], 1] *= 1 + side
    quad[[0, 3], 1] *= 1 - side
    quad[[0, 1], 0] *= 1 + tilt
    quad[[2, 3], 0] *= 1 - tilt
    quad += rng.normal(0, 0.015 * target_w, quad.shape).astype(np.float32)
    extent = quad.max(axis=0) - quad.min(axis=0)
    margin = np.array([w, h], np.float32) - extent
    centre = quad.min(axis=0) * -1 + rng.uniform(0.05, 0.95, 2).astype(np.float32) * np.maximum(margin, 1)
    return np.asarray(quad + centre, np.float32)


def _degrade(image: U8, rng: np.random.Generator) -> U8:
    """Blur, brightness/contrast, sensor noise, JPEG: what a camera does to a plate."""
    out = image.astype(np.float32)
    sigma = float(rng.uniform(0.3, 1.1))
    out = np.asarray(cv2.GaussianBlur(out, (0, 0), sigma), np.float32)
    out = np.asarray(out * rng.uniform(0.75, 1.2) + rng.uniform(-25, 25), np.float32)
    out += rng.normal(0, rng.uniform(1.5, 5.0), out.shape).astype(np.float32)
    u8 = np.clip(out, 0, 255).astype(np.uint8)
    ok, jpg = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 95))])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return np.asarray(cv2.imdecode(jpg, cv2.IMREAD_COLOR), np.uint8)


def composite(plate: U8, background: U8, rng: np.random.Generator) -> tuple[U8, F32]:
    """Warp ``plate`` into a copy of ``background``; returns the degraded photo and the corners."""
    ph, pw = plate.shape[:2]
    corners = _place(pw, ph, background.shape, rng)
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, corners)
    h, w = background.shape[:2]
    warped = cv2.warpPerspective(plate, matrix, (w, h), flags=cv2.INTER_AREA)
    alpha = cv2.warpPerspective(np.ones((ph, pw), np.float32), matrix, (w, h), flags=cv2.INTER_LINEAR)
    a = alpha[..., None]
    out = background.astype(np.float32) * (1 - a) + warped.astype(np.float32) * a
    return _degrade(np.clip(out, 0, 255).astype(np.uint8), rng), corners


def generate(count: int, seed: int = 0, *, backgrounds: dict[str, U8] | None = None,
             colours: Sequence[Colour] = COLOURS) -> list[RenderedPlate]:
    """``count`` photos with one plate each, colours in turn, from ``seed``.

    Args:
        count: number of samples.
        seed: everything random derives from it.
        backgrounds: ``{name: BGR photo}``; default :func:`default_backgrounds`.
        colours: cycled over the samples.
    """
    photos = backgrounds if backgrounds is not None else default_backgrounds()
    names = sorted(photos)
    rng = np.random.default_rng(seed)
    out: list[RenderedPlate] = []
    for i in range(count):
        colour = colours[i % len(colours)]
        text = random_plate_text(colour, rng)
        name = names[int(rng.integers(0, len(names)))]
        image, corners = composite(render_plate(text, colour), photos[name], rng)
        out.append(RenderedPlate(image, text, colour, corners, name))
    return out


def generate_negatives(seed: int = 0, *, backgrounds: dict[str, U8] | None = None,
                       texts: Sequence[str] = NEGATIVE_TEXTS) -> list[RenderedPlate]:
    """Signs with non-plate text rendered and composited like plates (blue, white text)."""
    photos = backgrounds if backgrounds is not None else default_backgrounds()
    names = sorted(photos)
    rng = np.random.default_rng(seed + 1_000_003)
    out: list[RenderedPlate] = []
    for i, text in enumerate(texts):
        colour = COLOURS[i % len(COLOURS)]
        name = names[int(rng.integers(0, len(names)))]
        image, corners = composite(render_plate(text, colour), photos[name], rng)
        out.append(RenderedPlate(image, text, colour, corners, name, negative=True))
    return out


def closeup(plate: U8, background: U8, rng: np.random.Generator, *, fill: tuple[float, float] = (0.6, 0.95),
            max_angle: float = 4.0, width: tuple[int, int] = (160, 640)) -> tuple[U8, F32]:
    """A close photo of ``plate``: it fills ``fill`` of the image's width, slightly rotated.

    What a guard's phone photo of a plate or a barrier camera's plate crop looks like: the image
    is cut around the plate from a random part of ``background`` (the car around the plate),
    ``width`` pixels wide, the plate at a random angle up to ``max_angle`` degrees and a little
    perspective. Returns the degraded image and the plate's corners (TL, TR, BR, BL).
    """
    ph, pw = plate.shape[:2]
    out_w = int(rng.integers(width[0], width[1] + 1))
    share = float(rng.uniform(*fill))
    target_w = out_w * share
    target_h = target_w * ph / pw
    # Taller than the plate by a random margin above and below (never less than the plate's own).
    out_h = round(target_h * rng.uniform(1.15, 1.0 / share + 0.6))
    angle = np.deg2rad(rng.uniform(-max_angle, max_angle))
    rect = np.array([[0, 0], [target_w, 0], [target_w, target_h], [0, target_h]], np.float32)
    rect -= rect.mean(axis=0)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    quad = rect @ rot.T
    side = rng.uniform(-0.05, 0.05)
    quad[[1, 2], 1] *= 1 + side
    quad[[0, 3], 1] *= 1 - side
    extent = quad.max(axis=0) - quad.min(axis=0)
    out_h = max(out_h, int(np.ceil(extent[1])) + 2)
    slack = np.maximum(np.array([out_w, out_h], np.float32) - extent, 0)
    corners = np.asarray(quad - quad.min(axis=0) + rng.uniform(0.1, 0.9, 2).astype(np.float32) * slack,
                         np.float32)
    bh, bw = background.shape[:2]
    scale = max(out_w / bw, out_h / bh) * float(rng.uniform(1.0, 2.5))
    big = cv2.resize(background, (max(out_w, round(bw * scale)), max(out_h, round(bh * scale))),
                     interpolation=cv2.INTER_LINEAR)
    x0 = int(rng.integers(0, big.shape[1] - out_w + 1))
    y0 = int(rng.integers(0, big.shape[0] - out_h + 1))
    base = np.ascontiguousarray(big[y0:y0 + out_h, x0:x0 + out_w])
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, corners)
    warped = cv2.warpPerspective(plate, matrix, (out_w, out_h), flags=cv2.INTER_AREA)
    alpha = cv2.warpPerspective(np.ones((ph, pw), np.float32), matrix, (out_w, out_h), flags=cv2.INTER_LINEAR)
    a = alpha[..., None]
    mixed = base.astype(np.float32) * (1 - a) + warped.astype(np.float32) * a
    return _degrade(np.clip(mixed, 0, 255).astype(np.uint8), rng), corners


def generate_closeups(count: int, seed: int = 0, *, backgrounds: dict[str, U8] | None = None,
                      colours: Sequence[Colour] = COLOURS) -> list[RenderedPlate]:
    """``count`` close photos of plates (:func:`closeup`), colours in turn, from ``seed``."""
    photos = backgrounds if backgrounds is not None else default_backgrounds()
    names = sorted(photos)
    rng = np.random.default_rng(seed + 3_000_017)
    out: list[RenderedPlate] = []
    for i in range(count):
        colour = colours[i % len(colours)]
        text = random_plate_text(colour, rng)
        name = names[int(rng.integers(0, len(names)))]
        image, corners = closeup(render_plate(text, colour), photos[name], rng)
        out.append(RenderedPlate(image, text, colour, corners, name))
    return out


def render_two_row(text: str, *, scale: float = 2.0) -> U8:
    """Draw a flat yellow two-row plate (lorries, buses, trailers): 440 x 220 mm.

    The upper row holds the province and the letter (80 x 60 mm characters, GA 36's large-vehicle
    rear plate), the lower row the other five characters (65 x 110 mm); black on yellow.
    """
    if len(text) != 7:
        raise ValueError(f"a two-row plate has 7 characters, got {text!r}")
    k = scale * PX_PER_MM
    w, h = round(440 * k), round(220 * k)
    plate = np.empty((h, w, 3), np.float32)
    plate[:] = (20, 185, 245)
    ink = np.array((15, 15, 15), np.float32)
    border = max(2, round(3 * k))
    cv2.rectangle(plate, (border, border), (w - border - 1, h - border - 1), ink.tolist(),
                  max(1, round(1.5 * k)))
    boxes = [((110.0, 15.0), (80.0, 60.0)), ((250.0, 15.0), (80.0, 60.0))]
    boxes += [((27.5 + i * 80.0, 90.0), (65.0, 110.0)) for i in range(5)]
    for char, ((left, top), (cw, ch)) in zip(text, boxes, strict=True):
        x0, y0 = round(left * k), round(top * k)
        mask = _glyph(char, round(cw * k), round(ch * k))[..., None]
        region = plate[y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]]
        region[:] = region * (1 - mask) + ink * mask
    cv2.circle(plate, (round(220 * k), round(45 * k)), round(5 * k), ink.tolist(), -1, cv2.LINE_AA)
    return np.clip(plate, 0, 255).astype(np.uint8)


def render_motorcycle(text: str, *, scale: float = 2.0) -> U8:
    """Draw a flat yellow motorcycle plate: 220 x 140 mm, two rows.

    The upper row holds the province and the letter (42 x 40 mm characters and a dot between
    them), the lower row the other five characters (34 x 62 mm, 6 mm apart); black on yellow.
    The proportions follow GA 36's motorcycle plate (characters laid out like the large
    two-row plate's, at about half its size), not its exact drawing.
    """
    if len(text) != 7:
        raise ValueError(f"a motorcycle plate has 7 characters, got {text!r}")
    k = scale * PX_PER_MM
    w, h = round(220 * k), round(140 * k)
    plate = np.empty((h, w, 3), np.float32)
    plate[:] = (20, 185, 245)
    ink = np.array((15, 15, 15), np.float32)
    border = max(2, round(2 * k))
    cv2.rectangle(plate, (border, border), (w - border - 1, h - border - 1), ink.tolist(),
                  max(1, round(1.2 * k)))
    boxes = [((52.0, 12.0), (42.0, 40.0)), ((126.0, 12.0), (42.0, 40.0))]
    boxes += [((13.0 + i * 40.0, 64.0), (34.0, 62.0)) for i in range(5)]
    for char, ((left, top), (cw, ch)) in zip(text, boxes, strict=True):
        x0, y0 = round(left * k), round(top * k)
        mask = _glyph(char, round(cw * k), round(ch * k))[..., None]
        region = plate[y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]]
        region[:] = region * (1 - mask) + ink * mask
    cv2.circle(plate, (round(110 * k), round(32 * k)), round(3 * k), ink.tolist(), -1, cv2.LINE_AA)
    return np.clip(plate, 0, 255).astype(np.uint8)


TWO_ROW_KINDS = ("large", "motorcycle")
"""Kinds of two-row plates in :func:`generate_two_row`."""


def generate_two_row(count: int, seed: int = 0, *, backgrounds: dict[str, U8] | None = None,
                     closeup_share: float = 0.25, motorcycle_share: float = 0.25) -> list[RenderedPlate]:
    """``count`` photos of yellow two-row plates, from ``seed``.

    Most are composited into a scene like :func:`generate` (at the sizes a gate camera sees a
    lorry's rear plate); ``closeup_share`` of them are close photos (:func:`closeup`). About
    ``motorcycle_share`` are motorcycle plates (:func:`render_motorcycle`, never trailers), the
    rest large plates (:func:`render_two_row`), about a third of them trailers (挂 last). Which
    are motorcycles is drawn from a stream of its own, so the large plates of a seed are the
    same whatever the share (a motorcycle takes the place of the large plate it replaces).
    """
    photos = backgrounds if backgrounds is not None else default_backgrounds()
    names = sorted(photos)
    rng = np.random.default_rng(seed + 5_000_011)
    kinds = np.random.default_rng(seed + 7_000_003)
    out: list[RenderedPlate] = []
    for _ in range(count):
        text = random_plate_text("yellow", rng)
        if rng.random() < 0.33:
            text = text[:6] + "挂"
        elif text[-1] == "学":
            text = text[:6] + DIGITS[int(rng.integers(0, 10))]
        name = names[int(rng.integers(0, len(names)))]
        motorcycle = bool(kinds.random() < motorcycle_share)
        last = DIGITS[int(kinds.integers(0, 10))]
        if motorcycle:
            text = text[:6] + (last if text[-1] == "挂" else text[-1])
        place = closeup if rng.random() < closeup_share else composite
        image, corners = place(render_two_row(text), photos[name], rng)
        if motorcycle:  # drawn from its own stream: the large plate's draws above keep ``rng`` in step
            image, corners = place(render_motorcycle(text), photos[name], kinds)
        out.append(RenderedPlate(image, text, "yellow", corners, name,
                                 kind="motorcycle" if motorcycle else "large"))
    return out
