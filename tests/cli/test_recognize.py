"""``estatewatch recognize``: the still-image cascade end to end, through the real CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from estatewatch.cli import app
from media.images import image_path


@pytest.fixture(scope="module")
def outputs(model_store: Path,
            tmp_path_factory: pytest.TempPathFactory) -> tuple[int, list[dict[str, object]]]:
    tmp = tmp_path_factory.mktemp("recognize")
    env = {"ESTATEWATCH_DATA_DIR": str(tmp / "data"), "ESTATEWATCH_MODELS_DIR": str(model_store)}
    corrupt = tmp / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    chinese_name = tmp / "北门-bus.jpg"
    shutil.copy(image_path("bus.jpg"), chinese_name)
    args = ["recognize", "--json", str(chinese_name), str(corrupt), str(image_path("players.jpg")),
            str(tmp / "missing.png")]
    result = CliRunner(env=env).invoke(app, args)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, lines


def test_one_record_per_image_in_order(outputs: tuple[int, list[dict[str, object]]]) -> None:
    code, records = outputs
    assert code == 1  # two files failed
    assert [Path(str(r["image"])).name for r in records] == ["北门-bus.jpg", "corrupt.jpg", "players.jpg",
                                                             "missing.png"]


def test_bad_files_are_reported_and_the_rest_still_runs(outputs: tuple[int, list[dict[str, object]]]) -> None:
    _, records = outputs
    assert "not a decodable image" in str(records[1]["error"])
    assert records[3]["error"] == "file not found"
    assert "faces" in records[0] and "faces" in records[2]


def test_bus_and_faces_in_documented_shape(outputs: tuple[int, list[dict[str, object]]]) -> None:
    _, records = outputs
    bus, players = records[0], records[2]
    vehicles = bus["vehicles"]
    assert isinstance(vehicles, list)
    assert "bus" in [v["label"] for v in vehicles]
    for v in vehicles:
        assert len(v["box"]) == 4 and 0 < v["score"] <= 1
    faces = players["faces"]
    assert isinstance(faces, list) and len(faces) >= 15
    for f in faces:
        assert len(f["box"]) == 4 and len(f["landmarks"]) == 5
        assert f["match"]["status"] == "unknown"  # an empty registry knows nobody
    for p in bus["plates"]:  # type: ignore[attr-defined]
        assert set(p) >= {"text", "score", "box", "corners", "vehicle", "colour"}
        assert p["colour"] in (None, "blue", "yellow", "green")
        assert p["vehicle"] is None or 0 <= p["vehicle"] < len(vehicles)


def test_unknown_stage_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["recognize", "--run", "faces,cats", "x.jpg"])
    assert result.exit_code == 2
    assert "unknown stage" in result.output
