"""``write_result``: every benchmark's JSON, Markdown and charts, written whole or not at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.record import write_atomically, write_result

MACHINE = {"cpu": "Test CPU", "usable_cores": 2, "date": "2026-12-03T00:00:00+00:00"}
DELIVERY = {"benchmark": "delivery", "machine": MACHINE, "label": "京A12345",
            "results": [{"database": "sqlite", "relays": 1, "deliveries_per_s": 900.0}]}


def test_writes_utf8_json_markdown_and_charts_and_says_each_path(tmp_path: Path) -> None:
    said: list[str] = []
    stem = tmp_path / "new" / "delivery"

    written = write_result(DELIVERY, stem, "# Delivery\n", said.append)

    json_path, md_path = stem.with_suffix(".json"), stem.with_suffix(".md")
    assert written == [json_path, md_path, tmp_path / "new" / "delivery-throughput.png"]
    text = json_path.read_text(encoding="utf-8")
    assert "京A12345" in text and text.endswith("}\n") and json.loads(text) == DELIVERY
    assert md_path.read_text() == "# Delivery\n"
    assert said == [f"wrote {json_path} and {md_path}", f"charts: {written[2]}"]
    assert sorted(p.name for p in stem.parent.iterdir()) == ["delivery-throughput.png", "delivery.json",
                                                             "delivery.md"]


def test_a_benchmark_without_charts_writes_json_and_markdown_only(tmp_path: Path) -> None:
    said: list[str] = []
    result = {"benchmark": "int8-accuracy", "machine": MACHINE, "models": {}}
    written = write_result(result, tmp_path / "int8-accuracy", "text", said.append)
    assert [p.name for p in written] == ["int8-accuracy.json", "int8-accuracy.md"]
    assert len(said) == 1


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "search.md"
    path.write_text("the recorded run\n")
    with pytest.raises(UnicodeEncodeError):
        write_atomically(path, "half a report " + "\ud800")  # a lone surrogate fails mid-write
    assert path.read_text() == "the recorded run\n"
    assert [p.name for p in tmp_path.iterdir()] == ["search.md"]


def test_a_result_that_is_not_json_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        write_result({"benchmark": "search", "machine": MACHINE, "results": {1, 2}}, tmp_path / "search", "x",
                     lambda _line: None)
    assert list(tmp_path.iterdir()) == []
