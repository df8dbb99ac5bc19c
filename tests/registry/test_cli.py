"""``estatewatch registry ...`` end to end on the default SQLite file (env-configured)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import cv2
import pytest
from typer.testing import CliRunner

from estatewatch.cli import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_store: Path) -> Path:
    monkeypatch.setenv("ESTATEWATCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ESTATEWATCH_MODELS_DIR", str(model_store))
    for var in (
        "ESTATEWATCH_DATABASE_URL",
        "ESTATEWATCH_TEMPLATE_KEY",
        "ESTATEWATCH_TEMPLATE_KEY_FILE",
        "ESTATEWATCH_TEMPLATE_KEYS_RETIRED",
    ):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "data"


def run(*args: str) -> Any:
    return runner.invoke(app, ["registry", *args], catch_exceptions=False)


def test_enroll_import_export_delete_and_rotate(
    env: Path, image: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    yao = tmp_path / "yao.jpg"
    cv2.imwrite(str(yao), image("yaoming.jpg"))
    players = tmp_path / "players.jpg"
    cv2.imwrite(str(players), image("players.jpg"))

    result = run("enroll", "--name", "姚明", "--photo", str(yao), "--building", "1", "--room", "101")
    assert result.exit_code == 0, result.output
    resident_id = result.output.split()[2].rstrip(":")
    key_file = env / "secrets" / "template.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert "generated one at" in caplog.text and key_file.read_text().strip() not in caplog.text
    assert (env / "estatewatch.db").is_file()

    refused = run("enroll", "--name", "many", "--photo", str(players))
    assert refused.exit_code == 2 and "several faces found (22)" in refused.output

    csv_in = tmp_path / "residents.csv"
    csv_in.write_text("name,building,unit,room\n李四,2,1,301\n,2,1,302\n", encoding="utf-8")
    imported = run("import", "residents", str(csv_in))
    assert imported.exit_code == 1 and "1 created, 0 updated, 1 errors" in imported.output
    exported = run("export", "residents")
    assert exported.exit_code == 0 and "李四" in exported.output and "姚明" in exported.output

    assert run("add-vehicle", "京A·88888", "--resident-id", resident_id).exit_code == 0
    near = run("match-plate", "京AB8888")
    assert '"status": "near"' in near.output

    old_key = key_file.read_text().split()[0]
    rotated = run("rotate-key", "--generate")
    assert rotated.exit_code == 0 and "re-encrypted 1 template(s)" in rotated.output
    assert key_file.read_text().split() != [old_key] and len(key_file.read_text().split()) == 1

    deleted = run("delete", resident_id)
    assert deleted.exit_code == 0 and "1 template(s), 1 vehicle(s)" in deleted.output
    assert "姚明" not in run("list").output
