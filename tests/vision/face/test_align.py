"""Five-point alignment: the least-squares similarity matches OpenCV and scikit-image."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from skimage.transform import SimilarityTransform

from vision.face.align import ARCFACE_TEMPLATE, align_faces, similarity_transforms
from vision.face.scrfd import ScrfdDetector

Photos = dict[str, npt.NDArray[np.uint8]]


def noisy_faces(n: int, seed: int = 0) -> npt.NDArray[np.float32]:
    """n five-point sets: the template rotated, scaled, shifted, plus a few px of noise."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        angle, scale = rng.uniform(-0.6, 0.6), rng.uniform(0.3, 4.0)
        rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        out.append(ARCFACE_TEMPLATE @ rot.T + rng.uniform(0, 600, 2) + rng.normal(0, 2.0, (5, 2)))
    return np.asarray(out, np.float32)


def test_matches_skimage_similarity_transform() -> None:
    src = noisy_faces(8)
    got = similarity_transforms(src)
    for points, matrix in zip(src, got, strict=True):
        ref = SimilarityTransform.from_estimate(points.astype(np.float64),
                                                ARCFACE_TEMPLATE.astype(np.float64))
        np.testing.assert_allclose(matrix, ref.params[:2], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("angle", "scale", "shift"), [
    (0.0, 1.0, (0.0, 0.0)), (0.3, 0.5, (-120.0, 40.0)), (-0.7, 2.5, (300.0, -80.0)),
])
def test_recovers_a_known_similarity_like_opencv(angle: float, scale: float,
                                                 shift: tuple[float, float]) -> None:
    lin = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    known = np.concatenate([lin, np.asarray(shift)[:, None]], axis=1)
    src = ((ARCFACE_TEMPLATE - known[:, 2]) @ np.linalg.inv(lin).T).astype(np.float32)
    ours = similarity_transforms(src[None])[0]
    ref, _ = cv2.estimateAffinePartial2D(src, ARCFACE_TEMPLATE, method=cv2.LMEDS)
    np.testing.assert_allclose(ours, known, atol=1e-3)
    np.testing.assert_allclose(ref, known, atol=1e-3)


def test_no_reflection_and_identity_on_template() -> None:
    np.testing.assert_allclose(similarity_transforms(ARCFACE_TEMPLATE[None])[0],
                               [[1, 0, 0], [0, 1, 0]], atol=1e-5)
    mirrored = ARCFACE_TEMPLATE * [-1, 1]
    m = similarity_transforms(mirrored[None])[0]
    assert np.linalg.det(m[:, :2]) > 0


def test_bad_landmark_shape_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\(N, 5, 2\)"):
        similarity_transforms(np.zeros((2, 4, 2), np.float32))


def test_aligned_crop_puts_landmarks_on_template(scrfd: ScrfdDetector, photos: Photos) -> None:
    image = photos["astronaut.png"]
    (det,) = scrfd.infer([image])
    assert det.landmarks is not None
    crops = align_faces(image, det.landmarks)
    assert crops.shape == (1, 112, 112, 3) and crops.dtype == np.uint8
    m = similarity_transforms(det.landmarks)[0]
    mapped = det.landmarks[0] @ m[:, :2].T + m[:, 2]
    # a real face is not the template: residuals of the 4-dof fit, measured up to 5.5 px
    assert np.abs(mapped - ARCFACE_TEMPLATE).max() < 8.0
    # the warp is what OpenCV gives for that matrix
    np.testing.assert_array_equal(crops[0], cv2.warpAffine(image, m, (112, 112), borderValue=0.0))
    assert align_faces(image, np.zeros((0, 5, 2), np.float32)).shape == (0, 112, 112, 3)
