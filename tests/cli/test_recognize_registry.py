"""``recognize`` fills ``match`` from the registry: enroll Yao Ming, find him among 22 players."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from estatewatch.cli import app
from media.images import image_path


def test_enrolled_resident_is_the_only_match(model_store: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESTATEWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ESTATEWATCH_MODELS_DIR", str(model_store))
    monkeypatch.delenv("ESTATEWATCH_DATABASE_URL", raising=False)
    runner = CliRunner()
    enrolled = runner.invoke(app, ["registry", "enroll", "--name", "姚明", "--photo",
                                   str(image_path("yaoming.jpg")), "--building", "3", "--unit", "2",
                                   "--room", "501"])
    assert enrolled.exit_code == 0, enrolled.output
    result = runner.invoke(app, ["-q", "recognize", "--json", "--run", "faces",
                                 str(image_path("players.jpg"))])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.strip().splitlines()[-1])
    matches = [f["match"] for f in record["faces"]]
    assert len(matches) >= 15
    hits = [m for m in matches if m["status"] == "match"]
    assert len(hits) == 1
    assert hits[0]["name"] == "姚明"
    assert hits[0]["address"] == "3-2-501"
    assert all(m["owner"] is None for m in matches if m["status"] == "unknown")
    assert "embedding" not in result.stdout


def test_no_match_leaves_match_null(model_store: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESTATEWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ESTATEWATCH_MODELS_DIR", str(model_store))
    result = CliRunner().invoke(app, ["-q", "recognize", "--json", "--no-match", "--run", "faces",
                                      str(image_path("yaoming.jpg"))])
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["faces"][0]["match"] is None
    assert not (tmp_path / "estatewatch.db").exists()
