"""A deterministic set of rendered text that is *not* a licence plate (``bench plates``' negatives).

Street and shop signs (小区东门 / EAST GATE, 京东快递 / JD EXPRESS), van and lorry lettering, bus
route boards, parking signs, Latin words and digit strings of a plate's length, drawn in several
fonts (WenQuanYi Micro Hei, Noto Sans/Serif CJK, DejaVu Sans/Serif/Mono) and colours, blue and
yellow backgrounds included, shown alone (a close photo of the sign) or composited onto vehicle
photos. Everything comes from ``numpy.random.default_rng(seed)``: the same seed gives the same set.
A reader that reads any of these as a valid plate has invented one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from media.plates import U8, composite, default_backgrounds

SIGN_FONTS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"),
)
"""Fonts with CJK glyphs (any line may be drawn in them)."""

LATIN_FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf"),
)
"""Latin-only fonts (for lines without CJK characters)."""

SIGNS: tuple[tuple[str, ...], ...] = (
    ("小区东门", "EAST GATE"),
    ("京东快递", "JD EXPRESS"),
    ("顺丰速运", "SF EXPRESS"),
    ("中通快递", "ZTO EXPRESS"),
    ("小区西门", "WEST GATE"),
    ("南门", "SOUTH GATE"),
    ("北门出口", "NORTH EXIT"),
    ("停车场", "PARKING"),
    ("地下停车场", "P B1 B2"),
    ("访客车位", "VISITOR"),
    ("禁止停车", "NO PARKING"),
    ("出口", "EXIT"),
    ("入口", "ENTRANCE"),
    ("内部车辆", "STAFF ONLY"),
    ("物业管理处", "PROPERTY"),
    ("超市", "SUPERMARKET"),
    ("美团外卖", "MEITUAN"),
    ("饿了么", "ELEME"),
    ("中国邮政", "CHINA POST"),
    ("货运专线", "CARGO LINE"),
    ("搬家公司", "MOVING CO"),
    ("冷链运输", "COLD CHAIN"),
    ("52路", "火车站-体育中心"),
    ("K128", "开发区-东湖公园"),
    ("B1路", "BRT EXPRESS"),
    ("301", "机场巴士"),
    ("限速", "5 KM/H"),
    ("限高 2.2M", "HEIGHT 2.2M"),
    ("京A出租", "TAXI"),
    ("川菜馆", "SICHUAN FOOD"),
    ("粤港车行", "AUTO SERVICE"),
    ("苏州银行", "BANK OF SUZHOU"),
    ("EASTGATE",),
    ("JDEXPRESS",),
    ("PARKING",),
    ("WELCOME",),
    ("ABCDEFG",),
    ("HEAVY LOAD",),
    ("SECURITY",),
    ("DELIVERY",),
    ("TRANSPORT",),
    ("LOGISTICS",),
    ("1234567",),
    ("8008208820",),
    ("400-820-8820",),
    ("138 0013 8000",),
    ("95338",),
    ("2024-06-18",),
    ("A1B2C3D",),
    ("EXIT 12",),
    ("GATE B7",),
    ("TRUCK 88",),
    ("LOT A3456",),
    ("VAN 2205",),
    ("MAX 30T",),
    ("ISUZU",),
    ("JMC 1040",),
    ("FOTON",),
    ("SHACMAN",),
    ("SINOTRUK",),
    ("YUTONG",),
    ("GOLDEN DRAGON",),
    ("东风", "DONGFENG"),
    ("一汽解放", "FAW"),
    ("福田汽车", "FOTON 6000"),
    ("危险品", "HAZMAT 3"),
)
"""Sign texts, one tuple of lines each (Chinese over Latin, as gate and shop signs are)."""

SIGN_COLOURS: tuple[tuple[str, tuple[int, int, int], tuple[int, int, int]], ...] = (
    ("blue", (170, 60, 10), (245, 245, 245)),
    ("blue", (140, 80, 20), (250, 250, 250)),
    ("yellow", (20, 185, 245), (15, 15, 15)),
    ("yellow", (40, 200, 230), (20, 20, 20)),
    ("green", (60, 140, 30), (245, 245, 245)),
    ("red", (30, 30, 200), (245, 245, 245)),
    ("red", (40, 40, 210), (40, 220, 250)),
    ("white", (245, 245, 245), (30, 30, 30)),
    ("white", (240, 240, 240), (180, 60, 20)),
    ("black", (20, 20, 20), (245, 245, 245)),
    ("orange", (20, 120, 240), (255, 255, 255)),
)
"""``(name, background BGR, ink BGR)`` of a sign."""


@dataclass(frozen=True, slots=True)
class RenderedSign:
    """One image holding one sign that is not a plate.

    Attributes:
        image: ``(H, W, 3)`` uint8 BGR.
        text: the sign's lines, joined by ``" / "``.
        colour: the background colour's name.
        font: the font file's name.
        background: the vehicle photo it was composited onto, or ``"alone"`` (a close photo).
    """

    image: U8
    text: str
    colour: str
    font: str
    background: str


@functools.cache
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


def available(paths: tuple[Path, ...]) -> list[Path]:
    """The fonts of ``paths`` that are installed."""
    return [p for p in paths if p.is_file()]


def render_sign(lines: tuple[str, ...], background: tuple[int, int, int], ink: tuple[int, int, int],
                font: Path, *, line_height: int = 48, latin_font: Path | None = None,
                border: bool = True) -> U8:
    """Draw a flat sign: ``lines`` stacked and centred, the first line the largest.

    Args:
        lines: text lines (Chinese over Latin, or a single line).
        background: BGR of the sign.
        ink: BGR of the text (and border).
        font: font for lines holding CJK characters (and for all lines without ``latin_font``).
        line_height: pixel size of the first line; later lines are 0.6 of it.
        latin_font: font for lines of ASCII only.
        border: draw a thin frame like a plate's.
    """
    sizes = [line_height] + [round(line_height * 0.6)] * (len(lines) - 1)
    fonts = [_font(latin_font if latin_font is not None and line.isascii() else font, size)
             for line, size in zip(lines, sizes, strict=True)]
    boxes = [f.getbbox(line) for f, line in zip(fonts, lines, strict=True)]
    widths = [int(b[2] - b[0]) for b in boxes]
    heights = [int(b[3] - b[1]) for b in boxes]
    pad = round(line_height * 0.35)
    gap = round(line_height * 0.2)
    w = max(widths) + 2 * pad
    h = sum(heights) + gap * (len(lines) - 1) + 2 * pad
    rgb = tuple(int(c) for c in background[::-1])
    canvas = PILImage.new("RGB", (w, h), rgb)
    draw = ImageDraw.Draw(canvas)
    fill = tuple(int(c) for c in ink[::-1])
    y = pad
    for line, f, box, lw, lh in zip(lines, fonts, boxes, widths, heights, strict=True):
        draw.text(((w - lw) / 2 - box[0], y - box[1]), line, font=f, fill=fill)
        y += lh + gap
    if border:
        k = max(2, line_height // 16)
        draw.rectangle((k, k, w - k - 1, h - k - 1), outline=fill, width=max(1, k // 2))
    return np.asarray(cv2.cvtColor(np.asarray(canvas, np.uint8), cv2.COLOR_RGB2BGR), np.uint8)


def _alone(sign: U8, rng: np.random.Generator) -> U8:
    """A close photo of ``sign``: a margin of wall around it, a slight rotation, camera degradation."""
    from media.plates import _degrade

    h, w = sign.shape[:2]
    mx, my = int(w * rng.uniform(0.0, 0.25)), int(h * rng.uniform(0.0, 0.4))
    wall = rng.integers(60, 200, 3).astype(np.uint8)
    canvas = np.empty((h + 2 * my, w + 2 * mx, 3), np.uint8)
    canvas[:] = wall
    canvas[my:my + h, mx:mx + w] = sign
    angle = float(rng.uniform(-4, 4))
    centre = (canvas.shape[1] / 2, canvas.shape[0] / 2)
    matrix = cv2.getRotationMatrix2D(centre, angle, 1.0)
    rotated = cv2.warpAffine(canvas, matrix, (canvas.shape[1], canvas.shape[0]),
                             borderMode=cv2.BORDER_REPLICATE)
    scale = float(rng.uniform(0.6, 1.6))
    resized = cv2.resize(rotated, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return _degrade(np.asarray(resized, np.uint8), rng)


def generate_signs(count: int, seed: int = 0, *, backgrounds: dict[str, U8] | None = None,
                   alone_share: float = 0.5) -> list[RenderedSign]:
    """``count`` images of signs (texts of :data:`SIGNS` in turn), from ``seed``.

    Args:
        count: number of images.
        seed: everything random derives from it.
        backgrounds: ``{name: BGR photo}`` to composite onto; default
            :func:`media.plates.default_backgrounds` (vehicles among them).
        alone_share: share of images that are a close photo of the sign alone.
    """
    photos = backgrounds if backgrounds is not None else default_backgrounds()
    names = sorted(photos)
    cjk, latin = available(SIGN_FONTS), available(LATIN_FONTS)
    if not cjk:
        raise FileNotFoundError(f"no CJK font found (install fonts-wqy-microhei): {SIGN_FONTS}")
    rng = np.random.default_rng(seed + 7_000_001)
    out: list[RenderedSign] = []
    for i in range(count):
        lines = SIGNS[i % len(SIGNS)]
        colour, bg, ink = SIGN_COLOURS[int(rng.integers(0, len(SIGN_COLOURS)))]
        font = cjk[int(rng.integers(0, len(cjk)))]
        latin_font = latin[int(rng.integers(0, len(latin)))] if latin and rng.random() < 0.6 else None
        if all(line.isascii() for line in lines) and latin_font is not None:
            font = latin_font
        sign = render_sign(lines, bg, ink, font, line_height=int(rng.integers(36, 72)),
                           latin_font=latin_font, border=bool(rng.random() < 0.7))
        if rng.random() < alone_share:
            image, where = _alone(sign, rng), "alone"
        else:
            where = names[int(rng.integers(0, len(names)))]
            image, _ = composite(sign, photos[where], rng)
        out.append(RenderedSign(image, " / ".join(lines), colour, font.name, where))
    return out
