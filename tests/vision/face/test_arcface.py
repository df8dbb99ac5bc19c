"""ArcFace embeddings: unit length, batch == single, identity on real photos."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from tests.tolerances import EMBEDDING_ATOL
from vision.face.align import align_faces
from vision.face.arcface import ArcFaceEmbedder
from vision.face.scrfd import ScrfdDetector

Photos = dict[str, npt.NDArray[np.uint8]]


@pytest.fixture(scope="module")
def players_crops(scrfd: ScrfdDetector, photos: Photos) -> npt.NDArray[np.uint8]:
    (det,) = scrfd.infer([photos["players.jpg"]])
    assert det.landmarks is not None
    return align_faces(photos["players.jpg"], det.landmarks)


def test_embeddings_are_unit_512_float32(arcface: ArcFaceEmbedder,
                                         players_crops: npt.NDArray[np.uint8]) -> None:
    out = arcface.infer(list(players_crops[:3]))
    assert len(out) == 3
    for e in out:
        assert e.shape == (512,) and e.dtype == np.float32
        assert abs(float(np.linalg.norm(e)) - 1.0) < 1e-5


def test_batch_equals_single(arcface: ArcFaceEmbedder, players_crops: npt.NDArray[np.uint8]) -> None:
    assert len(players_crops) > arcface.max_batch  # the batch is split into several calls
    batched = arcface.embed(players_crops)
    listed = np.stack(arcface.infer(list(players_crops)))
    singles = np.stack([arcface.infer([c])[0] for c in players_crops])
    np.testing.assert_allclose(batched, singles, atol=EMBEDDING_ATOL)
    np.testing.assert_allclose(listed, singles, atol=EMBEDDING_ATOL)


def test_wrong_crop_shape_is_refused(arcface: ArcFaceEmbedder) -> None:
    with pytest.raises(ValueError, match="112, 112, 3"):
        arcface.infer([np.zeros((100, 100, 3), np.uint8)])
    assert arcface.infer([]) == []
    assert arcface.embed(np.zeros((0, 112, 112, 3), np.uint8)).shape == (0, 512)


def test_workers_split_the_batch_without_changing_results(
    arcface: ArcFaceEmbedder, players_crops: npt.NDArray[np.uint8]
) -> None:
    parallel = ArcFaceEmbedder(arcface.path, workers=2, max_batch=5)
    try:
        parallel.load()
        np.testing.assert_allclose(
            parallel.embed(players_crops), arcface.embed(players_crops), atol=EMBEDDING_ATOL
        )
        assert parallel.session.config.intra_op_threads == 1
    finally:
        parallel.close()
    with pytest.raises(ValueError, match="workers"):
        ArcFaceEmbedder(arcface.path, workers=0)
