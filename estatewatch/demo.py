"""Sample cameras for ``estatewatch demo``: short H.264 clips built from real sample photos.

* ``lobby``: a slow pan over ``players.jpg`` (22 faces), analysed for faces;
* ``gate``: a car photo carrying rendered Chinese plates (blue, yellow, green in turn),
  analysed for vehicles and plates.

Clips are made once with Debian's ``ffmpeg`` into ``<cache>/media/demo`` and looped by the
file camera source, paced in real time like a live camera.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import cv2

from benchmarks.media import image_path, media_dir
from estatewatch.config import ServiceConfig
from streams.config import CameraConfig

logger = logging.getLogger(__name__)

CAR_PHOTO = Path("/usr/share/doc/opencv-doc/examples/data/licenseplate_motion.jpg")


class DemoError(RuntimeError):
    """The demo media could not be built (names the missing tool or file)."""


def _ffmpeg(args: list[str], target: Path) -> None:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise DemoError("the demo needs ffmpeg to build its sample clips: run scripts/setup.sh "
                        "(or apt-get install ffmpeg)")
    tmp = target.with_name(f".{target.stem}.partial{target.suffix}")
    cmd = [exe, "-hide_banner", "-loglevel", "error", "-y", *args,
           "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "50", "-bf", "0",
           str(tmp)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise DemoError(f"ffmpeg failed building {target.name}: {proc.stderr.strip()[-500:]}")
    tmp.replace(target)


def lobby_clip(folder: Path) -> Path:
    """12 s of 1280x720 at 25 fps panning over players.jpg."""
    target = folder / "lobby.mp4"
    if not target.is_file():
        pan = "crop=w=iw*0.75:h=ih*0.75:x='(iw-ow)/2*(1+sin(t/2))':y='(ih-oh)/2',scale=1280:720"
        _ffmpeg(["-loop", "1", "-framerate", "25", "-i", str(image_path("players.jpg")), "-t", "12",
                 "-vf", pan], target)
    return target


def gate_clip(folder: Path) -> Path:
    """12 s of 1280x720: the car photo with a blue, a yellow and a green rendered plate, 4 s each."""
    target = folder / "gate.mp4"
    if target.is_file():
        return target
    if not CAR_PHOTO.is_file():
        raise DemoError(f"the demo's car photo {CAR_PHOTO} is missing: install Debian's opencv-doc "
                        "(scripts/setup.sh does)")
    from benchmarks.plate_set import generate, load_background

    car = load_background(str(CAR_PHOTO))
    for i, sample in enumerate(generate(3, seed=11, backgrounds={"car": car})):
        cv2.imwrite(str(folder / f"gate_{i}.png"), sample.image)
    _ffmpeg(["-framerate", "1/4", "-i", str(folder / "gate_%d.png"), "-t", "12", "-vf",
             "fps=25,scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2"],
            target)
    return target


def demo_config(detect_fps: float = 2.0) -> ServiceConfig:
    """Two sample cameras (looping local clips) on the default vision settings."""
    folder = media_dir() / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    cameras = [
        CameraConfig(id="lobby", name="1号楼大堂 (demo)", url=str(lobby_clip(folder)), detect_fps=detect_fps,
                     run=["faces"]),
        CameraConfig(id="gate", name="北门车行道 (demo)", url=str(gate_clip(folder)), detect_fps=detect_fps,
                     run=["vehicles", "plates"]),
    ]
    return ServiceConfig(cameras=cameras)
