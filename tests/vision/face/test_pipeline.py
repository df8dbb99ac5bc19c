"""The whole face path on real photos: detect, align, embed, quality, identity."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from tests.tolerances import PIXEL_ATOL
from vision.face.arcface import ArcFaceEmbedder
from vision.face.pipeline import FaceAnalyzer, similarity, similarity_matrix
from vision.face.retinaface import RetinaFaceDetector
from vision.face.scrfd import ScrfdDetector

Photos = dict[str, npt.NDArray[np.uint8]]


def test_analyze_fills_every_face(analyzer: FaceAnalyzer, photos: Photos) -> None:
    images = [photos["players.jpg"], photos["yaoming.jpg"], photos["astronaut.png"]]
    result = analyzer.analyze(images)
    assert [len(faces) for faces in result][1:] == [1, 1] and len(result[0]) >= 15
    for faces in result:
        for face in faces:
            assert face.embedding is not None and face.embedding.shape == (512,)
            assert face.quality is not None and 0.0 <= face.quality <= 1.0
    # the big close-up portrait scores higher than the 40 px faces of the group photo
    assert result[2][0].quality is not None and result[0][0].quality is not None
    assert result[2][0].quality > result[0][0].quality


def test_analyze_without_embedding_and_without_images(analyzer: FaceAnalyzer, photos: Photos) -> None:
    calls = analyzer.embedder.session.calls
    (faces,) = analyzer.analyze([photos["astronaut.png"]], embed=False)
    assert len(faces) == 1 and faces[0].embedding is None and faces[0].quality is not None
    assert analyzer.embedder.session.calls == calls
    assert analyzer.analyze([]) == []
    assert analyzer.analyze([np.zeros((100, 100, 3), np.uint8)]) == [[]]


@pytest.mark.parametrize("detector_name", ["scrfd", "retinaface"])
def test_yao_ming_matches_one_player(detector_name: str, arcface: ArcFaceEmbedder, photos: Photos,
                                     request: pytest.FixtureRequest) -> None:
    detector: ScrfdDetector | RetinaFaceDetector = request.getfixturevalue(detector_name)
    players, (yao,) = FaceAnalyzer(detector, arcface).analyze([photos["players.jpg"], photos["yaoming.jpg"]])
    assert yao.embedding is not None
    sims = similarity_matrix(np.stack([f.embedding for f in players if f.embedding is not None]),
                             yao.embedding[None])[:, 0]
    best = int(np.argmax(sims))
    others = np.delete(sims, best)
    # measured (SCRFD / RetinaFace): best 0.628 / 0.636, next best 0.173 / 0.157
    assert sims[best] >= 0.4
    assert others.max() < 0.3
    # Yao Ming is the player whose face box starts at about (719, 140) in players.jpg
    assert abs(players[best].box[0] - 719) < 10 and abs(players[best].box[1] - 140) < 10
    assert similarity(players[best].embedding, yao.embedding) == pytest.approx(float(sims[best]), abs=1e-5)


def test_batched_analysis_equals_single(analyzer: FaceAnalyzer, photos: Photos) -> None:
    images = [photos["yaoming.jpg"], photos["players.jpg"], photos["astronaut.png"]]
    together = analyzer.analyze(images)
    for image, faces in zip(images, together, strict=True):
        (alone,) = analyzer.analyze([image])
        assert len(alone) == len(faces)
        for a, b in zip(alone, faces, strict=True):
            np.testing.assert_allclose(a.box, b.box, atol=PIXEL_ATOL)
            assert a.embedding is not None and b.embedding is not None
            assert similarity(a.embedding, b.embedding) > 0.9999


def test_similarity_helpers() -> None:
    a = np.array([1.0, 0.0, 0.0], np.float32)
    b = np.array([1.0, 1.0, 0.0], np.float32)
    assert similarity(a, b) == pytest.approx(2**-0.5)
    assert similarity(a, np.zeros(3, np.float32)) == 0.0
    np.testing.assert_allclose(similarity_matrix(np.stack([a, b]), np.stack([a])), [[1.0], [2**-0.5]],
                               rtol=1e-6)


@pytest.mark.parametrize(("profile", "detector_type"), [("default", ScrfdDetector),
                                                        ("permissive", RetinaFaceDetector)])
def test_from_store_picks_the_profile_models(profile: str, detector_type: type, model_store: object,
                                             photos: Photos) -> None:
    analyzer = FaceAnalyzer.from_store(profile)
    assert isinstance(analyzer.detector, detector_type)
    assert isinstance(analyzer.embedder, ArcFaceEmbedder)
    assert not analyzer.detector.loaded  # lazy: loads on first use
    (faces,) = analyzer.analyze([photos["astronaut.png"]])
    assert len(faces) == 1 and analyzer.detector.loaded
