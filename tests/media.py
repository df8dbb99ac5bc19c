"""Test media: re-exported from :mod:`benchmarks.media` (benchmarks use the same real images)."""

from benchmarks.media import image_path, media_dir, read_image

__all__ = ["image_path", "media_dir", "read_image"]
