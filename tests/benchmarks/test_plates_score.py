"""``bench plates`` scoring: exact reads per colour and per plate height (pure: no models)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.plates import BAND_LABELS, _band, markdown, score
from media.plates import RenderedPlate
from vision.plate.grammar import parse_plate
from vision.types import PlateReading


def plate(text: str, height: float, colour: str = "blue") -> RenderedPlate:
    width = 3.1 * height
    corners = np.array([[100, 100], [100 + width, 100], [100 + width, 100 + height], [100, 100 + height]],
                       np.float32)
    return RenderedPlate(np.zeros((8, 8, 3), np.uint8), text, colour, corners, "bg.jpg")  # type: ignore[arg-type]


def read_as(p: RenderedPlate, text: str) -> PlateReading:
    parsed = parse_plate(text)
    box = np.concatenate([p.corners.min(axis=0), p.corners.max(axis=0)]).astype(np.float32)
    return PlateReading(parsed.text, text, 0.9, np.full(len(parsed.text), 0.9, np.float32), parsed.valid,
                        parsed.kind, corners=p.corners, box=box)


@pytest.mark.parametrize(("height", "band"), [
    (0.0, "0-30 px"), (29.9, "0-30 px"), (30.0, "30-35 px"), (39.99, "35-40 px"), (49.0, "40-50 px"),
    (50.0, ">=50 px"), (400.0, ">=50 px"),
])
def test_heights_fall_in_their_band(height: float, band: str) -> None:
    assert _band(height) == band


def test_accuracy_is_reported_per_plate_height() -> None:
    plates = [plate("京A12345", 25), plate("京A12346", 27), plate("沪B11111", 45), plate("粤C22222", 80)]
    readings = [[read_as(plates[0], "京A12345")], [read_as(plates[1], "新A12346")],
                [read_as(plates[2], "沪B11111")], []]
    result = score(plates, readings)
    assert list(result["per_height"]) == list(BAND_LABELS)
    assert result["per_height"]["0-30 px"] == {"plates": 2, "exact": 0.5}
    assert result["per_height"]["40-50 px"] == {"plates": 1, "exact": 1.0}
    assert result["per_height"][">=50 px"] == {"plates": 1, "exact": 0.0}
    assert result["per_height"]["30-35 px"] == {"plates": 0, "exact": None}
    assert result["exact"] == 0.5 and result["detection_recall"] == 0.75
    misses = [(e["truth"], e["height_px"]) for e in result["errors"]]
    assert misses == [("京A12346", 27.0), ("粤C22222", 80.0)]


def test_the_markdown_lists_only_bands_with_plates() -> None:
    plates = [plate("京A12345", 25), plate("沪B11111", 45)]
    result = score(plates, [[read_as(plates[0], "京A12345")], [read_as(plates[1], "沪B11117")]])
    result.update({"seed": 0, "batch": 8, "images_per_second": 1.0, "ms_per_image": 1.0,
                   "detector_input": [960, 960], "pipeline": {},
                   "machine": {"cpu": "x", "usable_cores": 2, "date": "d"}})
    text = markdown(result)
    assert "| 0-30 px | 1 | 100.0% |" in text and "| 40-50 px | 1 | 0.0% |" in text
    assert "30-35 px" not in text
    assert "沪B11111 (blue, 45.0 px, bg.jpg) -> ['沪B11117']" in text


def test_reader_variants_are_compared_with_fp32_per_set_and_seed() -> None:
    from benchmarks.plates import compare_variants, variants_markdown

    def two_row(variant: str, exact: int) -> dict[str, object]:
        return {"set": "two_row", "seed": 1, "variant": variant, "images": 120, "exact_count": exact,
                "exact": exact / 120, "false_plates": 0}

    negative = [{"set": "negative", "seed": 1, "variant": v, "images": 120, "false_plates": n}
                for v, n in (("fp32", 0), ("int8", 2))]
    rows = compare_variants([two_row("fp32", 114), two_row("int8", 112), *negative])
    assert [(r["set"], r["seed"]) for r in rows] == [("two_row", 1), ("negative", 1)]
    assert rows[0]["variants"]["int8"]["exact_count"] == 112
    assert rows[0]["vs_fp32"] == {"int8": {"false_plates": 0, "exact_points": -1.67}}
    assert rows[1]["vs_fp32"] == {"int8": {"false_plates": 2}}
    text = variants_markdown(rows)
    assert ("| two_row | 1 | int8 | 93.3% exact (112/120), 0 false plates "
            "| -1.7 points, +0 false plates |") in text
    assert "| negative | 1 | int8 | 2 false plates / 120 images | +2 false plates |" in text
    assert variants_markdown([]) == ""


def test_without_fp32_there_is_no_difference_to_report() -> None:
    from benchmarks.plates import compare_variants

    rows = compare_variants([{"set": "closeup", "seed": 0, "variant": "int8", "images": 3, "exact_count": 3,
                              "exact": 1.0, "false_plates": 0}])
    assert rows[0]["vs_fp32"] == {}


def test_the_reader_variant_goes_through_the_vision_settings() -> None:
    from benchmarks.plates import reader_settings

    settings = reader_settings(2, "int8")
    assert settings.variant("plate_read") == "int8" and settings.intra_op_threads == 2
    assert reader_settings(1, "fp32").variant("plate_read") == "fp32"


def test_the_rendered_set_keeps_the_first_variant_on_top_and_compares_the_others() -> None:
    from benchmarks.plates import with_variants

    def result(exact: int) -> dict[str, object]:
        return {"seed": 0, "plates": 150, "exact": exact / 150, "false_plates": [], "per_height": {}}

    alone = result(142)
    assert with_variants({"fp32": alone}) is alone
    both = with_variants({"fp32": result(142), "int8": result(141)})
    assert both["exact"] == 142 / 150 and set(both["variants"]) == {"fp32", "int8"}
    (row,) = both["variant_comparison"]
    assert row["set"] == "rendered" and row["variants"]["int8"]["exact_count"] == 141
    assert row["vs_fp32"]["int8"] == {"false_plates": 0, "exact_points": -0.67}
