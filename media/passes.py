"""Rendered passes: short clips of a car approaching a camera, its plate growing frame by frame.

Each pass is a few frames (5 per second) of a 1280x720 scene: a real photo as the background
and Debian's car photo (opencv-doc ``licenseplate_motion.jpg``) driving towards the camera,
with a rendered Chinese plate (:func:`media.plates.render_plate`) warped over its own plate. The
car nears at constant speed, so the plate's height grows as ``1 / distance``: from about 20 px
to about 60 px on most passes; on some (``far`` passes) the car turns off before the plate
reaches 40 px. Light motion blur, sensor noise and JPEG per frame. Everything comes from
``numpy.random.default_rng(seed)``; frames stay in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from media.plates import (
    COLOURS,
    Colour,
    default_backgrounds,
    load_background,
    random_plate_text,
    render_plate,
)

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]

CAR_PHOTO = "/usr/share/doc/opencv-doc/examples/data/licenseplate_motion.jpg"
CAR_PLATE = ((228.0, 226.0), (358.0, 226.0), (358.0, 293.0), (228.0, 293.0))
"""The car photo's own plate (TL, TR, BR, BL, pixels of the 600x482 photo), covered by the rendered one."""

FRAME_SIZE = (1280, 720)
FPS = 5.0
PLATE_ASPECT = 440.0 / 140.0
"""Width over height of a single-row plate (blue and yellow; green is 480 mm wide)."""


@dataclass(frozen=True, slots=True)
class RenderedPass:
    """One car's pass in front of the camera.

    Attributes:
        frames: ``(720, 1280, 3)`` uint8 BGR frames, :data:`FPS` per second.
        text: the plate's ground truth.
        colour: the plate's colour.
        heights: the plate's height in each frame, pixels.
        corners: ``(N, 4, 2)`` float32 plate corners per frame (TL, TR, BR, BL).
        background: the scene photo's name.
    """

    frames: list[U8]
    text: str
    colour: Colour
    heights: tuple[float, ...]
    corners: F32
    background: str

    @property
    def max_height(self) -> float:
        return max(self.heights)


def plate_heights(start: float, end: float, frames: int) -> list[float]:
    """Heights of a plate nearing at constant speed: ``1/h`` falls linearly from ``1/start`` to ``1/end``."""
    inverse = np.linspace(1.0 / start, 1.0 / end, frames)
    return [float(1.0 / v) for v in inverse]


def _scene(background: U8, rng: np.random.Generator) -> U8:
    """A 1280x720 crop of ``background`` (scaled to cover the frame), tinted a little."""
    w, h = FRAME_SIZE
    bh, bw = background.shape[:2]
    scale = max(w / bw, h / bh) * float(rng.uniform(1.0, 1.3))
    size = (max(w, round(bw * scale)), max(h, round(bh * scale)))
    big = cv2.resize(background, size, interpolation=cv2.INTER_AREA)
    y = int(rng.integers(0, big.shape[0] - h + 1))
    x = int(rng.integers(0, big.shape[1] - w + 1))
    return np.ascontiguousarray(big[y:y + h, x:x + w])


def _paste(frame: U8, image: U8, x: int, y: int) -> None:
    """Paste ``image`` with its top-left corner at ``(x, y)``, clipped to the frame."""
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + image.shape[1]), min(h, y + image.shape[0])
    if x1 > x0 and y1 > y0:
        frame[y0:y1, x0:x1] = image[y0 - y:y1 - y, x0 - x:x1 - x]


def _warp_plate(frame: U8, plate: U8, corners: F32) -> U8:
    ph, pw = plate.shape[:2]
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, corners)
    h, w = frame.shape[:2]
    warped = cv2.warpPerspective(plate, matrix, (w, h), flags=cv2.INTER_AREA)
    ones = np.ones((ph, pw), np.float32)
    alpha = cv2.warpPerspective(ones, matrix, (w, h), flags=cv2.INTER_LINEAR)[..., None]
    out = frame.astype(np.float32) * (1 - alpha) + warped.astype(np.float32) * alpha
    return np.clip(out, 0, 255).astype(np.uint8)


def _degrade(frame: U8, rng: np.random.Generator, blur_px: float) -> U8:
    """Light motion blur (along the car's way), sensor noise and JPEG."""
    out = frame.astype(np.float32)
    length = max(1, round(blur_px))
    if length > 1:
        kernel = np.zeros((length, length), np.float32)
        kernel[:, length // 2] = 1.0 / length  # the car comes down the image: vertical smear
        out = np.asarray(cv2.filter2D(out, -1, kernel), np.float32)
    out = np.asarray(cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.3, 0.8))), np.float32)
    out += rng.normal(0, rng.uniform(1.0, 3.5), out.shape).astype(np.float32)
    ok, jpg = cv2.imencode(".jpg", np.clip(out, 0, 255).astype(np.uint8),
                           [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(70, 93))])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return np.asarray(cv2.imdecode(jpg, cv2.IMREAD_COLOR), np.uint8)


def render_pass(car: U8, scene_photo: U8, background: str, rng: np.random.Generator, *, far: bool = False,
                frames: int = 10, colour: Colour = "blue") -> RenderedPass:
    """One pass of ``frames`` frames, the plate growing from about 20 px to about 60 px.

    ``far``: the car turns off early, its plate growing to 24-37 px only (never 40).
    """
    text = random_plate_text(colour, rng)
    plate = render_plate(text, colour)
    aspect = plate.shape[1] / plate.shape[0]
    start = float(rng.uniform(18, 23))
    end = float(rng.uniform(24, 37)) if far else float(rng.uniform(56, 64))
    heights = plate_heights(start, end, frames)
    scene = _scene(scene_photo, rng)
    if rng.random() < 0.5:
        car = np.ascontiguousarray(car[:, ::-1])
        car_plate = np.array([[600 - x, y] for x, y in CAR_PLATE], np.float32)[[1, 0, 3, 2]]
    else:
        car_plate = np.array(CAR_PLATE, np.float32)
    tint = rng.uniform(0.7, 1.15, 3).astype(np.float32)
    car = np.clip(car.astype(np.float32) * tint, 0, 255).astype(np.uint8)
    plate_centre = car_plate.mean(axis=0)
    own_width = float(car_plate[1, 0] - car_plate[0, 0])
    w, h = FRAME_SIZE
    x_far, x_near = float(rng.uniform(0.35, 0.65)) * w, float(rng.uniform(0.4, 0.6)) * w
    y_far, y_near = float(rng.uniform(0.35, 0.45)) * h, float(rng.uniform(0.7, 0.82)) * h
    angle = np.deg2rad(rng.uniform(-4, 4))
    side, tilt = float(rng.uniform(-0.08, 0.08)), float(rng.uniform(-0.05, 0.05))
    out: list[U8] = []
    quads: list[F32] = []
    for ph in heights:
        t = (1.0 / heights[0] - 1.0 / ph) / (1.0 / heights[0] - 1.0 / end)  # 0 far .. 1 near
        if far:
            t *= 0.5
        pw = ph * aspect
        scale = pw / own_width
        size = (max(2, round(car.shape[1] * scale)), max(2, round(car.shape[0] * scale)))
        small = np.asarray(cv2.resize(car, size, interpolation=cv2.INTER_AREA), np.uint8)
        cx, cy = x_far + (x_near - x_far) * t, y_far + (y_near - y_far) * t
        frame = scene.copy()
        _paste(frame, small, round(cx - plate_centre[0] * scale), round(cy - plate_centre[1] * scale))
        half_w, half_h = pw / 2, ph / 2
        quad = np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h], [-half_w, half_h]],
                        np.float32)
        quad[[1, 2], 1] *= 1 + side
        quad[[0, 3], 1] *= 1 - side
        quad[[0, 1], 0] *= 1 + tilt
        quad[[2, 3], 0] *= 1 - tilt
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
        quad = (quad @ rot.T + np.array([cx, cy], np.float32)).astype(np.float32)
        frame = _warp_plate(frame, plate, quad)
        blur = float(rng.uniform(0, 0.06)) * ph  # faster in the image when nearer
        out.append(_degrade(frame, rng, blur))
        quads.append(quad)
    sizes = tuple(float((np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2) for q in quads)
    return RenderedPass(out, text, colour, sizes, np.stack(quads), background)


def generate_passes(count: int, seed: int, *, far_share: float = 0.2, frames: int = 10,
                    scenes: dict[str, U8] | None = None) -> Iterator[RenderedPass]:
    """``count`` passes from ``seed``: colours in turn, one in ``1/far_share`` never nearing 40 px.

    Rendered one at a time as they are iterated (a pass is about 28 MB of frames).

    Args:
        count: number of passes.
        seed: everything random derives from it.
        far_share: the share of passes whose plate stays under 40 px.
        frames: frames per pass (5 per second).
        scenes: ``{name: BGR photo}`` backgrounds; default :func:`media.plates.default_backgrounds`
            without the car photo itself.
    """
    photos = scenes if scenes is not None else {k: v for k, v in default_backgrounds().items()
                                                 if k != "licenseplate_motion.jpg"}
    names = sorted(photos)
    car = load_background(CAR_PHOTO)
    rng = np.random.default_rng(seed)
    every = round(1 / far_share) if far_share > 0 else 0
    for i in range(count):
        name = names[int(rng.integers(0, len(names)))]
        far = bool(every) and i % every == every - 1
        yield render_pass(car, photos[name], name, rng, far=far, frames=frames,
                          colour=COLOURS[i % len(COLOURS)])
