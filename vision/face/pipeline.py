"""The face path: detect -> align -> embed, batched across images and faces.

``FaceAnalyzer.analyze(images)`` runs the detector once over all images (in calls of the
detector's ``max_batch``), aligns every face of every image, embeds all of them together (in
calls of the embedder's ``max_batch``) and fills each :class:`~vision.types.Face`'s quality.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from models.manifest import Task, Variant
from vision.detector import Detector, create_detector
from vision.face.align import ALIGNED_SIZE, align_faces
from vision.face.arcface import ArcFaceEmbedder, embed_crops
from vision.face.quality import measure
from vision.model import Model
from vision.session import SessionConfig
from vision.types import F32, Detections, Face, Image

logger = logging.getLogger(__name__)

DetT = TypeVar("DetT", bound=Model[Image, Detections], covariant=True)
"""The face detector: a family (SCRFD, RetinaFace), or a resized view of one."""
EmbT = TypeVar("EmbT", bound=Model[Image, F32], covariant=True)
"""The embedder: ArcFace, or its batched view."""


def similarity(a: F32, b: F32) -> float:
    """Cosine similarity of two embeddings (any length; need not be normalised), in [-1, 1]."""
    x, y = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    denom = float(np.linalg.norm(x) * np.linalg.norm(y))
    return float(np.dot(x, y) / denom) if denom > 0 else 0.0


def similarity_matrix(a: F32, b: F32) -> F32:
    """Cosine similarities ``(N, M)`` float32 of ``(N, D)`` and ``(M, D)`` embeddings."""
    x = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    y = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    out: F32 = (x @ y.T).astype(np.float32)
    return out


class FaceAnalyzer(Generic[DetT, EmbT]):
    """Detector + aligner + embedder.

    Args:
        detector: images in, :class:`Detections` with ``(N, 5, 2)`` landmarks out.
        embedder: ``(112, 112, 3)`` aligned crops in, ``(512,)`` float32 unit rows out (ArcFace,
            or its batched view).
    """

    def __init__(self, detector: DetT, embedder: EmbT) -> None:
        self.detector = detector
        self.embedder = embedder

    @classmethod
    def from_store(cls, profile: str = "default", config: SessionConfig | None = None, *,
                   store: Path | None = None, workers: int = 1,
                   variants: Mapping[Task, Variant] | None = None) -> FaceAnalyzer[Detector, ArcFaceEmbedder]:
        """Build from the models the manifest picks for ``profile`` (verified, not loaded yet).

        Args:
            profile: ``default`` (SCRFD) or ``permissive`` (RetinaFace); ArcFace in both.
            config: providers and threads for both sessions.
            store: the model store (default: the configured one).
            workers: CPU data parallelism of both models (see :class:`~vision.model.OnnxModel`).
            variants: role -> precision variant (the manifest's ``default_variant`` where absent; see
                :func:`models.variants.require_variant`).

        Raises:
            models.fetch.ModelError: a model (variant) is not made or fails its hash check.
            models.manifest.ManifestError: unknown profile.
        """
        from models.manifest import profile_models
        from models.variants import chosen_variant, require_variant
        from vision.model import create_as

        specs = profile_models(profile)
        det, emb = specs["face_detect"], specs["face_embed"]
        chosen = variants or {}
        detector = create_detector(det.family, require_variant(det, chosen_variant(det, chosen), store),
                                   config, name=det.name, workers=workers)
        embedder = create_as(ArcFaceEmbedder, emb.family,
                             require_variant(emb, chosen_variant(emb, chosen), store), config,
                             name=emb.name, workers=workers)
        return FaceAnalyzer(detector, embedder)

    def load(self) -> None:
        """Open and warm up both models."""
        self.detector.load()
        self.embedder.load()

    def close(self) -> None:
        """Stop both models' worker threads, if any."""
        self.detector.close()
        self.embedder.close()

    def analyze(self, images: Sequence[Image], *, embed: bool = True) -> list[list[Face]]:
        """Faces of each image, in order; each with its quality and (if ``embed``) its embedding.

        Args:
            images: ``(H, W, 3)`` uint8 BGR images of any sizes.
            embed: compute the ``(512,)`` float32 L2-normalised embeddings.

        Returns:
            One list per image, faces in descending detector score.
        """
        detections = self.detector.infer(images)
        crops = [align_faces(im, _landmarks(d)) for im, d in zip(images, detections, strict=True)]
        counts = [len(d) for d in detections]
        all_crops = (np.concatenate(crops) if crops else
                     np.zeros((0, ALIGNED_SIZE, ALIGNED_SIZE, 3), np.uint8))
        embeddings = embed_crops(self.embedder, all_crops) if embed and all_crops.shape[0] else None
        out: list[list[Face]] = []
        offset = 0
        for det, crop_block, n in zip(detections, crops, counts, strict=True):
            out.append([_face(det, j, crop_block[j], embeddings, offset + j) for j in range(n)])
            offset += n
        return out


def _landmarks(det: Detections) -> F32:
    if det.landmarks is None:
        raise ValueError("face detector returned no landmarks; alignment needs 5 points per face")
    return det.landmarks


def _face(det: Detections, j: int, crop: npt.NDArray[np.uint8], embeddings: F32 | None,
          row: int) -> Face:
    landmarks = _landmarks(det)[j]
    quality = measure(det.xyxy[j], landmarks, crop)
    return Face(
        box=det.xyxy[j],
        score=float(det.scores[j]),
        landmarks=landmarks,
        embedding=None if embeddings is None else embeddings[row],
        quality=quality.score,
    )
