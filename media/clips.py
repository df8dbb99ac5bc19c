"""H.264 sample clips for the demo, tests and benchmarks, built once with ffmpeg into ``<cache>/media``.

* :func:`h264_clip`: ffmpeg's synthetic test patterns at any size and rate (stream tests);
* :func:`lobby_clip`: a slow pan over ``players.jpg`` (22 faces), the demo's lobby camera;
* :func:`gate_clip`: a car photo carrying rendered Chinese plates (blue, yellow, green in turn),
  the demo's gate camera;
* :func:`vtest_clip`: Debian opencv-doc's ``vtest.avi`` (pedestrians) as 720p25, the pipeline
  benchmark's people camera;
* :func:`idle_clip`: the gate clip's empty scene held still with light sensor noise, the
  capacity search's idle camera.

Clips are looped by the file camera source, paced in real time like a live camera.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import cv2

from media.images import image_path, media_dir

logger = logging.getLogger(__name__)

CAR_PHOTO = Path("/usr/share/doc/opencv-doc/examples/data/licenseplate_motion.jpg")
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


class MediaError(RuntimeError):
    """A sample clip could not be built (names the missing tool or file)."""


def demo_folder() -> Path:
    """``<cache>/media/demo``, where the demo's and the pipeline benchmark's clips live (created)."""
    folder = media_dir() / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _ffmpeg(args: list[str], target: Path, gop: int = 50, extra: tuple[str, ...] = ()) -> None:
    """Encode ``args`` (inputs and filters) as H.264 (``gop`` frames per GOP, no B-frames) to ``target``."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise MediaError("building sample clips needs ffmpeg: run scripts/setup.sh "
                         "(or apt-get install ffmpeg)")
    tmp = target.with_name(f".{target.stem}.partial{target.suffix}")
    cmd = [exe, "-hide_banner", "-loglevel", "error", "-y", *args,
           "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", str(gop), "-bf", "0",
           *extra, str(tmp)]
    logger.info("generating %s", target)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise MediaError(f"ffmpeg failed building {target.name}: {proc.stderr.strip()[-500:]}")
    tmp.replace(target)


def h264_clip(width: int, height: int, *, fps: int = 25, seconds: float = 10.0,
              source: str = "testsrc2") -> Path:
    """An H.264 MP4 of ffmpeg's lavfi ``source`` (GOP 2 s, no B-frames), cached by parameters.

    Raises:
        MediaError: ffmpeg is not installed (Debian package ``ffmpeg``) or failed.
    """
    path = media_dir() / f"{source.split('=')[0]}_{width}x{height}_{fps}fps_{seconds:g}s.mp4"
    if not path.exists():
        _ffmpeg(["-f", "lavfi", "-i", f"{source}=size={width}x{height}:rate={fps}", "-t", f"{seconds:g}"],
                path, gop=2 * fps, extra=("-movflags", "+faststart"))
    return path


def lobby_clip(folder: Path) -> Path:
    """12 s of 1280x720 at 25 fps panning over players.jpg."""
    target = folder / "lobby.mp4"
    if not target.is_file():
        pan = "crop=w=iw*0.75:h=ih*0.75:x='(iw-ow)/2*(1+sin(t/2))':y='(ih-oh)/2',scale=1280:720"
        _ffmpeg(["-loop", "1", "-framerate", "25", "-i", str(image_path("players.jpg")), "-t", "12",
                 "-vf", pan], target)
    return target


def gate_clip(folder: Path) -> Path:
    """18 s of 1280x720: three cars arriving at a gate and leaving.

    A car with a blue, a yellow, then a green rendered plate, 4 s each, each followed by 2 s of
    an empty scene, so that every car is a vehicle track of its own as at a real gate.
    """
    target = folder / "gate-v2.mp4"
    if target.is_file():
        return target
    if not CAR_PHOTO.is_file():
        raise MediaError(f"the demo's car photo {CAR_PHOTO} is missing: install Debian's opencv-doc "
                         "(scripts/setup.sh does)")
    from media.plates import generate, load_background

    car = load_background(str(CAR_PHOTO))
    empty = cv2.resize(load_background("building.jpg"), (car.shape[1], car.shape[0]))
    cv2.imwrite(str(folder / "gate_empty.png"), empty)
    lines = []
    for i, sample in enumerate(generate(3, seed=11, backgrounds={"car": car})):
        cv2.imwrite(str(folder / f"gate_{i}.png"), sample.image)
        lines += [f"file 'gate_{i}.png'", "duration 4", "file 'gate_empty.png'", "duration 2"]
    lines.append("file 'gate_empty.png'")  # the concat demuxer needs the last file twice
    playlist = folder / "gate.txt"
    playlist.write_text("\n".join(lines) + "\n")
    _ffmpeg(["-f", "concat", "-safe", "0", "-i", str(playlist), "-t", "18", "-vf",
             "fps=25,scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2"],
            target)
    return target


def gate_plates() -> list[str]:
    """The texts of the three plates the gate clip shows (blue, yellow, green)."""
    from media.plates import generate, load_background

    car = load_background(str(CAR_PHOTO))
    return [sample.text for sample in generate(3, seed=11, backgrounds={"car": car})]


def vtest_clip(folder: Path) -> Path:
    """``vtest.avi`` as 1280x720, 25 fps H.264 (GOP 50, no B-frames), built once."""
    target = folder / "vtest_720p25.mp4"
    if not target.is_file():
        if not VTEST.is_file():
            raise MediaError(f"{VTEST} is missing: install Debian's opencv-doc (scripts/setup.sh does)")
        _ffmpeg(["-i", str(VTEST), "-vf", "fps=25,scale=1280:720"], target)
    return target


def idle_clip(folder: Path) -> Path:
    """10 s of 1280x720 at 25 fps: the gate's empty scene, still, with light sensor noise."""
    target = folder / "idle_720p25.mp4"
    if not target.is_file():
        gate_clip(folder)  # draws gate_empty.png
        _ffmpeg(["-loop", "1", "-framerate", "25", "-i", str(folder / "gate_empty.png"), "-t", "10",
                 "-vf", "scale=1280:720:force_original_aspect_ratio=decrease,"
                 "pad=1280:720:(ow-iw)/2:(oh-ih)/2,noise=alls=4:allf=t"], target)
    return target
