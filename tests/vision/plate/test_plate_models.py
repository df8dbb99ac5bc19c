"""The plate models on rendered plates: decoders, batching and the end-to-end cascade."""

from __future__ import annotations

from collections import Counter
from itertools import product
from math import ceil
from pathlib import Path

import numpy as np
import pytest

from media import plates as plate_set
from media.plates import RenderedPlate
from tests.tolerances import PIXEL_ATOL, RAW_ATOL, SCORE_ATOL
from vision.detector import Detector
from vision.model import create
from vision.plate.detector import PlateDetector, make_priors
from vision.plate.grammar import PROVINCES
from vision.plate.pipeline import PlatePipeline
from vision.plate.province import sub_quad
from vision.plate.reader import PlateReader
from vision.plate.rectify import plate_size, rectify

PER_COLOUR = 8
Pipeline = PlatePipeline[Detector]


@pytest.fixture(scope="module")
def reader(model_store: Path) -> PlateReader:
    model = PlateReader(model_store / "ppocrv6_rec.onnx")
    model.load()
    return model


@pytest.fixture(scope="module")
def pipeline(model_store: Path, reader: PlateReader) -> Pipeline:
    detector = PlateDetector(model_store / "clp_det.onnx")
    detector.load()
    return PlatePipeline.build(detector, reader, reader)


@pytest.fixture(scope="module")
def plates() -> list[RenderedPlate]:
    return plate_set.generate(PER_COLOUR * 3, seed=2024)


def test_priors_follow_the_reference_layout() -> None:
    """The vectorised priors equal agentclpr's loop (level -> row -> column -> size)."""
    h, w = 96, 64
    ref = []
    for step, sizes in zip((8, 16, 32), ((24, 48), (96, 192), (384, 768)), strict=True):
        for i, j in product(range(ceil(h / step)), range(ceil(w / step))):
            ref += [[(j + 0.5) * step, (i + 0.5) * step, s, s] for s in sizes]
    np.testing.assert_array_equal(make_priors(w, h), np.asarray(ref, np.float32))


def test_families_are_registered(model_store: Path) -> None:
    assert isinstance(create("clp_retina", model_store / "clp_det.onnx", name="clp_det"), PlateDetector)
    assert isinstance(create("ppocr_ctc", model_store / "ppocrv6_rec.onnx", name="ppocrv6_rec"),
                      PlateReader)


def test_reader_dictionary_has_blank_first_and_space_last(reader: PlateReader) -> None:
    chars = reader.characters
    assert chars[0] == "<blank>" and chars[-1] == " "
    assert len(chars) == 18710
    assert all(c in chars for c in plate_set.PROVINCES + "学警港澳挂")


def test_detector_finds_each_plate_with_ordered_corners(pipeline: Pipeline,
                                                        plates: list[RenderedPlate]) -> None:
    dets = pipeline.detector.infer([p.image for p in plates])
    errors = []
    for plate, det in zip(plates, dets, strict=True):
        assert len(det) >= 1, plate.text
        assert det.landmarks is not None and det.landmarks.shape[1:] == (4, 2)
        best = int(det.scores.argmax())
        _, height = plate_size(plate.corners)
        errors.append(np.abs(det.landmarks[best] - plate.corners).max() / height)
    # Corners come back TL, TR, BR, BL: a wrong order would be off by a plate width or height.
    assert max(errors) < 0.6
    assert float(np.median(errors)) < 0.3


def test_rendered_plates_read_end_to_end(pipeline: Pipeline, plates: list[RenderedPlate]) -> None:
    """All but two plates of the fixed set (seed 2024, never used to tune the pipeline) read exactly.

    The allowed misses are the known residue (about 5% on ``bench plates``): a trailing 1 read as
    7 (seed 2024: ``琼ADA2681`` -> ``琼ADA2687``), and a province so blurred that the recogniser
    gave it no more probability than it gives a province the grammar would put before a sign's
    Latin lettering (seed 2024: ``桂QF27370`` read ``Q·F27370``, its province re-read at 1e-4):
    such a reading is no plate (:mod:`vision.plate.plausible`, issue 12).
    """
    readings = pipeline.read([p.image for p in plates])
    exact: Counter[str] = Counter()
    misses = []
    for plate, found in zip(plates, readings, strict=True):
        hit = next((r for r in found if r.valid and r.text == plate.text), None)
        if hit is None:
            misses.append((plate.text, [(r.raw, r.text) for r in found]))
            continue
        exact[plate.colour] += 1
        assert hit.corners is not None and hit.box is not None
        assert hit.char_scores.shape == (len(hit.text),)
        assert hit.kind == ("new_energy" if plate.colour == "green" else "standard")
    for colour in plate_set.COLOURS:
        assert exact[colour] >= PER_COLOUR - 2, (colour, misses)
    assert len(misses) <= 2, misses


def test_pipeline_batched_equals_single(pipeline: Pipeline, plates: list[RenderedPlate]) -> None:
    sample = plates[:5]
    batched = pipeline.read([p.image for p in sample])
    for plate, together in zip(sample, batched, strict=True):
        (alone,) = pipeline.read([plate.image])
        assert [(r.text, r.valid) for r in alone] == [(r.text, r.valid) for r in together]
        for a, b in zip(alone, together, strict=True):
            assert a.corners is not None and b.corners is not None
            np.testing.assert_allclose(a.corners, b.corners, atol=PIXEL_ATOL)
            np.testing.assert_allclose(a.char_scores, b.char_scores, atol=SCORE_ATOL)


def test_weak_detections_are_kept_only_when_they_read_as_plates(pipeline: Pipeline,
                                                                plates: list[RenderedPlate]) -> None:
    images = [p.image for p in plates[:6]]
    weak = pipeline.detector.infer(images)  # the pipeline's detector keeps candidates
    assert pipeline.detector.params.score_threshold == pipeline.options.candidate_score
    strong = pipeline.detector.with_score_threshold(pipeline.accept_score).infer(images)
    assert sum(map(len, weak)) > sum(map(len, strong))  # the lower threshold finds more candidates
    for det in strong:
        assert det.scores.min(initial=1.0) > pipeline.accept_score
    for det, found in zip(weak, pipeline.read(images), strict=True):
        for r in found:
            assert r.box is not None
            match = int(np.argmin(np.abs(det.xyxy - r.box).sum(axis=1)))
            assert r.valid or det.scores[match] > pipeline.accept_score


def test_non_plate_signs_are_rejected(pipeline: Pipeline) -> None:
    signs = plate_set.generate_negatives(seed=2024)
    for sign, found in zip(signs, pipeline.read([s.image for s in signs]), strict=True):
        assert all(not r.valid for r in found), (sign.text, [(r.raw, r.text) for r in found])


def test_detector_batched_equals_single(pipeline: Pipeline, plates: list[RenderedPlate]) -> None:
    images = [p.image for p in plates[:4]]
    batched = pipeline.detector.infer(images)
    for image, det in zip(images, batched, strict=True):
        (single,) = pipeline.detector.infer([image])
        np.testing.assert_allclose(det.xyxy, single.xyxy, atol=PIXEL_ATOL)
        np.testing.assert_allclose(det.scores, single.scores, atol=SCORE_ATOL)
        assert det.landmarks is not None and single.landmarks is not None
        np.testing.assert_allclose(det.landmarks, single.landmarks, atol=PIXEL_ATOL)


def test_reader_batched_equals_single(reader: PlateReader, plates: list[RenderedPlate]) -> None:
    # Different widths: a narrow crop batched with wide ones must not change.
    crops = [rectify(p.image, p.corners, stretch=s) for p, s in zip(plates[:4], (1.0, 2.0, 1.5, 2.5),
                                                                   strict=True)]
    tensor, _ = reader.preprocess(crops)
    (batched,) = reader.forward(tensor)
    for i, crop in enumerate(crops):
        (single,) = reader.forward(reader.preprocess([crop])[0])
        np.testing.assert_allclose(batched[i], single[0], atol=RAW_ATOL)
        assert reader.infer([crop])[0].text == reader.infer(crops)[i].text


def test_reader_pads_with_zeros_after_normalisation(reader: PlateReader) -> None:
    crop = np.full((48, 100, 3), 255, np.uint8)
    tensor = reader.tensor([crop], reader.width)
    assert tensor.shape == (1, 3, 48, reader.width)
    assert np.all(tensor[..., :100] == 1.0) and np.all(tensor[..., 100:] == 0.0)


def test_empty_batches(reader: PlateReader, pipeline: Pipeline) -> None:
    assert pipeline.detector.infer([]) == [] and reader.infer([]) == []
    assert pipeline.read([]) == []
    blank = np.zeros((240, 320, 3), np.uint8)
    assert pipeline.read([blank]) == [[]]


def test_vehicle_boxes_map_plates_back_to_the_image(pipeline: Pipeline,
                                                    plates: list[RenderedPlate]) -> None:
    sample = plates[:3]
    boxes = []
    for p in sample:
        (x1, y1), (x2, y2) = p.corners.min(axis=0), p.corners.max(axis=0)
        boxes.append(np.array([[x1 - 80, y1 - 60, x2 + 80, y2 + 40]], np.float32))
    in_boxes = pipeline.read([p.image for p in sample], vehicle_boxes=boxes)
    for p, found in zip(sample, in_boxes, strict=True):
        assert found, p.text
        assert found[0].corners is not None
        _, height = plate_size(p.corners)
        assert np.abs(found[0].corners - p.corners).max() < 0.6 * height


def test_province_reread_reads_the_left_end(reader: PlateReader, pipeline: Pipeline,
                                            plates: list[RenderedPlate]) -> None:
    """On ground-truth corners the province crops name the province; batching changes nothing."""
    sample = plates[:6]
    crops = [rectify(p.image, sub_quad(p.corners), margin_x=0.0, min_aspect=0.2) for p in sample]
    probs = reader.province_probs(crops)
    assert probs.shape == (len(sample), len(PROVINCES))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    right = sum(PROVINCES[int(row.argmax())] == p.text[0] for row, p in zip(probs, sample, strict=True))
    assert right >= len(sample) - 1
    for crop, row in zip(crops, probs, strict=True):
        np.testing.assert_allclose(reader.province_probs([crop])[0], row, atol=1e-4)
    assert reader.province_probs([]).shape == (0, len(PROVINCES))


def _spell(reader: PlateReader, frames: list[dict[str, float]]) -> np.ndarray:
    """``(T, C)`` probabilities: each frame's listed characters, the rest of its mass on blank."""
    index = {c: i for i, c in enumerate(reader.characters) if i}
    probs = np.zeros((len(frames), len(reader.characters)), np.float32)
    for t, frame in enumerate(frames):
        for char, p in frame.items():
            probs[t, index[char]] = p
        probs[t, 0] = 1.0 - sum(frame.values())
    return probs


def test_the_colour_decides_how_many_characters_a_plate_has(reader: PlateReader) -> None:
    """A green plate read as 7 characters has lost one: its colour brings back the likeliest 8th."""
    frames: list[dict[str, float]] = []
    for char in "京A":
        frames += [{char: 0.95}, {}]
    frames += [{"D": 0.3}, {}]  # a faint D between A and 1: greedy drops it
    for char in "12345":
        frames += [{char: 0.95}, {}]
    probs = _spell(reader, frames)
    assert reader.decode(probs).text == "京A12345"
    assert reader.decode(probs, "blue").text == "京A12345"
    green = reader.decode(probs, "green")
    assert (green.text, green.kind, green.colour) == ("京AD12345", "new_energy", "green")
    assert green.char_scores[2] == pytest.approx(0.3)


def test_readings_carry_the_plates_colour(pipeline: Pipeline, plates: list[RenderedPlate]) -> None:
    sample = [plates[i] for i in (0, 1, 2, 3, 4, 5)]  # colours in turn: blue, yellow, green
    for plate, found in zip(sample, pipeline.read([p.image for p in sample]), strict=True):
        assert found and found[0].colour == plate.colour, plate.text
