"""The ``match`` values of ``recognize --json`` (and ``POST /recognize``) are plain JSON."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from alarms.intake import registry_match_json
from registry.config import RegistrySettings
from registry.service import Registry
from tests.alarms.builders import plate_reading
from tests.registry.conftest import TEST_KEY
from vision.cascade import ImageRecognition, PlateFinding


def test_a_visitors_car_matches_as_json(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    registry = Registry.open(RegistrySettings(database_url=url, template_key=TEST_KEY))
    try:
        host = registry.add_resident("王芳")
        start = dt.datetime(2026, 5, 1, 8, tzinfo=dt.UTC)
        visitor = registry.add_visitor("张三", host, start, start + dt.timedelta(hours=2))
        registry.add_vehicle("沪B67890", visitor_id=visitor)
        found = ImageRecognition(plates=[PlateFinding(plate_reading("沪B67890", score=0.9), None)])
        faces, plates = registry_match_json(registry, found)
    finally:
        registry.close()
    assert faces == []
    (match,) = plates
    assert match is not None and match["status"] == "exact"
    decoded = json.loads(json.dumps(match, ensure_ascii=False))
    assert decoded["owners"][0]["owner_kind"] == "visitor"
    assert decoded["owners"][0]["valid_until"] == "2026-05-01T10:00:00+00:00"
