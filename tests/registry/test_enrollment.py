"""Enrollment from real photos with the real face engine, and every refusal with its message."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from registry.enrollment import EnrollmentRefused
from registry.service import Registry
from registry.types import Owner
from tests.registry.conftest import RegistryFactory

ImageFn = Callable[[str], npt.NDArray[np.uint8]]


def jpeg(image: npt.NDArray[np.uint8]) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return bytes(data.tobytes())


class TurnedFaces:
    """Wraps the real engine, moving each nose landmark onto the eye axis (a head turned ~60 degrees).

    No offline photo shows one person in profile; only the landmarks change, so the refusal comes
    from the real quality check.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def analyze(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[list[Any]]:
        out = []
        for faces in self.inner.analyze(images):
            turned = []
            for face in faces:
                lm = face.landmarks.copy()
                lm[2, 0] = lm[0, 0] + 0.85 * (lm[1, 0] - lm[0, 0])
                turned.append(dataclasses.replace(face, landmarks=lm))
            out.append(turned)
        return out


def test_yao_ming_matches_only_himself_in_players(
    make_registry: RegistryFactory, analyzer: Any, image: ImageFn
) -> None:
    registry = make_registry()
    owner, ids = registry.enroll(
        [("yaoming.jpg", jpeg(image("yaoming.jpg")))],
        analyzer,
        name="姚明",
        building="1",
        unit="1",
        room="101",
    )
    assert owner.kind == "resident" and len(ids) == 1
    faces = analyzer.analyze([image("players.jpg")])[0]
    assert len(faces) == 22
    matches = registry.match_faces(np.stack([f.embedding for f in faces]))
    matched = [i for i, m in enumerate(matches) if m.status == "match"]
    assert len(matched) == 1, [round(m.score, 3) for m in matches]
    yao = matches[matched[0]]
    assert (yao.owner, yao.name, yao.address, yao.template_id) == (owner, "姚明", "1-1-101", ids[0])
    # the matched face is the one whose box is where Yao Ming is, i.e. the best similarity of all
    assert yao.score == max(m.score for m in matches)
    assert all(m.owner is None and m.name is None for i, m in enumerate(matches) if i != matched[0])

    # threshold edges on the real score, queried alone (it came from a batch of 22): a threshold
    # equal to the reported score matches; anything above it, even by one float, does not
    query = np.stack([faces[matched[0]].embedding])
    assert registry.match_faces(query)[0].score == yao.score
    assert registry.match_faces(query, threshold=yao.score)[0].status == "match"
    above = float(np.nextafter(yao.score, 2.0))
    assert registry.match_faces(query, threshold=above)[0].status == "unknown"
    assert registry.match_faces(query, threshold=yao.score + 1e-6)[0].status == "unknown"


@pytest.mark.parametrize("batch", [1, 2, 22, 64])
def test_a_face_scores_the_same_in_any_batch(
    make_registry: RegistryFactory, analyzer: Any, image: ImageFn, batch: int
) -> None:
    """Each players.jpg face, queried among ``batch`` queries at every position, scores as alone."""
    registry = make_registry()
    registry.enroll([("yaoming.jpg", jpeg(image("yaoming.jpg")))], analyzer, name="姚明")
    registry.enroll([("astronaut.png", jpeg(image("astronaut.png")))], analyzer, name="Eileen")
    faces = np.stack([f.embedding for f in analyzer.analyze([image("players.jpg")])[0]])
    alone = [registry.match_faces(face[None])[0] for face in faces]
    assert {m.status for m in alone} == {"match", "unknown"}  # Yao Ming matches, the others do not
    rng = np.random.default_rng(batch)
    for _ in range(3):
        picks = rng.choice(len(faces), batch, replace=batch > len(faces))
        for pick, got in zip(picks, registry.match_faces(faces[picks]), strict=True):
            want = alone[pick]
            assert (got.status, got.score, got.owner) == (want.status, want.score, want.owner), pick
            assert [(c.template_id, c.score) for c in got.candidates] == [
                (c.template_id, c.score) for c in want.candidates
            ]


def test_several_photos_give_several_templates(registry: Registry, analyzer: Any, image: ImageFn) -> None:
    yao = image("yaoming.jpg")
    owner, ids = registry.enroll(
        [("a.jpg", jpeg(yao)), ("b.jpg", jpeg(cv2.flip(yao, 1)))], analyzer, name="Yao"
    )
    assert len(ids) == 2 and registry.template_ids(owner) == ids
    more = registry.enroll([("c.jpg", jpeg(yao))], analyzer, owner=owner)[1]
    assert len(registry.template_ids(owner)) == 3 and more[0] not in ids
    assert registry.load_crop(ids[0])[:2] == b"\xff\xd8"  # type: ignore[index]


def _photo(kind: str, image: ImageFn) -> bytes:
    yao = image("yaoming.jpg")
    if kind == "garbage":
        return b"this is not an image"
    if kind == "empty":
        return b""
    if kind == "blank":
        return jpeg(np.full((300, 300, 3), 128, np.uint8))
    if kind == "players":
        return jpeg(image("players.jpg"))
    if kind == "small":
        return jpeg(cv2.resize(yao, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA))
    if kind == "blurred":
        return jpeg(cv2.GaussianBlur(yao, (0, 0), 4))
    return jpeg(yao)


@pytest.mark.parametrize(
    ("kind", "expected_error"),
    [
        ("garbage", r"cannot decode the image"),
        ("empty", r"cannot decode the image"),
        ("blank", r"^no face found$"),
        ("players", r"^several faces found \(22\); the photo must show exactly one person$"),
        ("small", r"^face too small: \d\d px, minimum 80 px"),
        ("blurred", r"^face too blurry: sharpness 0\.\d\d, minimum 0\.30"),
        ("turned", r"^face turned away: frontalness 0\.\d\d, minimum 0\.60"),
    ],
)
def test_refusals(
    make_registry: RegistryFactory, analyzer: Any, image: ImageFn, kind: str, expected_error: str
) -> None:
    registry = make_registry()
    engine = TurnedFaces(analyzer) if kind == "turned" else analyzer
    with pytest.raises(EnrollmentRefused) as info:
        registry.enroll(
            [("good.jpg", _photo("good", image)), (f"{kind}.jpg", _photo(kind, image))],
            engine,
            name="someone",
        )
    (refusal,) = info.value.refusals if kind != "turned" else info.value.refusals[1:]
    assert refusal.photo == f"{kind}.jpg"
    assert any(__import__("re").search(expected_error, r) for r in refusal.reasons), refusal.reasons
    assert f"{kind}.jpg" in str(info.value)
    assert registry.list_residents() == [] and registry.template_counts() == {}  # nothing stored


def test_refusal_to_add_to_unknown_owner(registry: Registry, analyzer: Any, image: ImageFn) -> None:
    from registry.changes import RegistryError

    with pytest.raises(RegistryError, match="no resident"):
        registry.enroll([("y.jpg", jpeg(image("yaoming.jpg")))], analyzer, owner=Owner("resident", "missing"))


def test_reembed_from_stored_crops(make_registry: RegistryFactory, analyzer: Any, image: ImageFn) -> None:
    registry = make_registry()
    owner, _ = registry.enroll([("y.jpg", jpeg(image("yaoming.jpg")))], analyzer, name="Yao")
    # the same engine under another model id stands in for a new embedding model
    assert registry.reembed(analyzer, "w600k_mbf_v2", drop_old=True) == (1, 0)
    assert registry.template_counts() == {"w600k_mbf_v2": 1}
    upgraded = make_registry(embedding_model="w600k_mbf_v2")
    face = analyzer.analyze([image("yaoming.jpg")])[0][0]
    assert upgraded.match_faces(face.embedding[None], model_id="w600k_mbf_v2")[0].owner == owner
