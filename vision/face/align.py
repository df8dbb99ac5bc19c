"""Five-point face alignment onto the 112x112 ArcFace template (least-squares similarity).

The transform is Umeyama's closed-form least-squares similarity (rotation, uniform scale,
translation; no reflection), vectorised over all faces; each crop is then one
``cv2.warpAffine`` (bilinear, black border), as InsightFace's ``norm_crop`` does.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
import numpy.typing as npt

from vision.types import F32, Image

logger = logging.getLogger(__name__)

ALIGNED_SIZE = 112
ARCFACE_TEMPLATE: F32 = np.array(
    [
        [38.2946, 51.6963],  # left eye (image left)
        [73.5318, 51.5014],  # right eye
        [56.0252, 71.7366],  # nose tip
        [41.5493, 92.3655],  # left mouth corner
        [70.7299, 92.2041],  # right mouth corner
    ],
    np.float32,
)
"""Where the five landmarks land in a 112x112 crop (InsightFace's ``arcface_dst``)."""


def similarity_transforms(src: F32, dst: F32 = ARCFACE_TEMPLATE) -> npt.NDArray[np.float64]:
    """Least-squares similarity transforms mapping each point set onto ``dst`` (Umeyama 1991).

    Args:
        src: ``(N, K, 2)`` source points (image pixels), K >= 2.
        dst: ``(K, 2)`` destination points.

    Returns:
        ``(N, 2, 3)`` float64 affine matrices ``M`` with ``dst ≈ M @ [x, y, 1]``.
    """
    pts = np.asarray(src, np.float64)
    if pts.ndim != 3 or pts.shape[2] != 2 or pts.shape[1] != dst.shape[0]:
        raise ValueError(f"src must be (N, {dst.shape[0]}, 2), got {pts.shape}")
    ref = np.asarray(dst, np.float64)
    src_mean = pts.mean(axis=1, keepdims=True)
    dst_mean = ref.mean(axis=0)
    src_c = pts - src_mean
    dst_c = ref - dst_mean
    cov = np.einsum("kd,nke->nde", dst_c, src_c) / pts.shape[1]
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones((pts.shape[0], 2))
    d[:, 1] = np.sign(np.linalg.det(u) * np.linalg.det(vt))
    d[d[:, 1] == 0, 1] = 1.0
    rot = np.einsum("nij,nj,njk->nik", u, d, vt)
    var = (src_c**2).sum(axis=(1, 2)) / pts.shape[1]
    scale = (sig * d).sum(axis=1) / np.maximum(var, 1e-12)
    lin = rot * scale[:, None, None]
    trans = dst_mean - np.einsum("nij,nj->ni", lin, src_mean[:, 0])
    return np.concatenate([lin, trans[:, :, None]], axis=2)


def align_faces(image: Image, landmarks: F32, size: int = ALIGNED_SIZE) -> npt.NDArray[np.uint8]:
    """Warp every face of one image onto the ArcFace template.

    Args:
        image: ``(H, W, 3)`` uint8 BGR.
        landmarks: ``(N, 5, 2)`` float32 in image pixels (detector order).
        size: output side; the template is scaled by ``size / 112``.

    Returns:
        ``(N, size, size, 3)`` uint8 BGR crops.
    """
    n = landmarks.shape[0]
    out = np.empty((n, size, size, 3), np.uint8)
    if n == 0:
        return out
    matrices = similarity_transforms(landmarks, ARCFACE_TEMPLATE * (size / ALIGNED_SIZE))
    for i in range(n):
        cv2.warpAffine(image, matrices[i], (size, size), dst=out[i], flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    return out
