"""The console's files: served publicly with safe headers, and every string in both languages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import get_args

import pytest
from fastapi.testclient import TestClient

from alarms.records import AlarmState
from alarms.types import ALARM_TYPES, SEVERITIES
from api.accounts.principal import ROLES
from api.app import create_app
from api.console import STATIC_DIR
from api.registry_schemas import OwnerKind, ResidentStatus
from estatewatch.config import ServiceConfig
from estatewatch.service import Service
from vision.types import PlateColour

LANGUAGES = ("zh-CN", "en")
DYNAMIC = {  # keys the JS builds from a prefix and a value of the API
    "type": ALARM_TYPES, "severity": SEVERITIES, "state": get_args(AlarmState),
    "plate_colour": get_args(PlateColour), "role": (*ROLES, "key"), "entry.kind": get_args(OwnerKind),
    "resident_status": get_args(ResidentStatus),
    "health": ("online", "stalled", "offline", "tampered", "connecting"),
    "feed": ("connecting", "live", "polling", "stopped"),
    "wall.video": ("none", "connecting", "lost", "playing"),
    "history": ("raised", "acknowledged", "resolved", "commented", "redacted"),
}


def strings(lang: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((STATIC_DIR / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))
    return data


def used_keys() -> set[str]:
    """Keys named literally in the page (data-i18n*) and the modules (t("..."), tOr("...", ...))."""
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    keys = set(re.findall(r'data-i18n(?:-[a-z-]+)?="([^"]+)"', html))
    for module in STATIC_DIR.glob("*.js"):
        keys |= set(re.findall(r'\bt(?:Or)?\("([a-z_.]+)"', module.read_text(encoding="utf-8")))
    return keys


def dynamic_keys() -> set[str]:
    sep = {"wall.video": "_"}
    return {f"{prefix}{sep.get(prefix, '.')}{value}"
            for prefix, values in DYNAMIC.items() for value in values}


def test_both_languages_have_the_same_keys() -> None:
    zh, en = strings("zh-CN"), strings("en")
    assert set(zh) - set(en) == set(), "keys missing in en.json"
    assert set(en) - set(zh) == set(), "keys missing in zh-CN.json"
    for lang, table in (("zh-CN", zh), ("en", en)):
        assert all(isinstance(v, str) for v in table.values()), lang
        empty = {k for k, v in table.items() if not v} - {"wall.video_playing"}
        assert not empty, f"{lang}: empty strings {sorted(empty)}"
        for key, text in table.items():  # a placeholder in one language is in the other
            other = en if lang == "zh-CN" else zh
            assert set(re.findall(r"\{\w+\}", text)) == set(re.findall(r"\{\w+\}", other[key])), key


def test_every_string_the_console_uses_exists_and_none_is_unused() -> None:
    keys = set(strings("zh-CN"))
    wanted = used_keys() | dynamic_keys()
    assert wanted - keys == set(), "strings used by the console but missing from i18n"
    assert keys - wanted == set(), "strings in i18n that nothing uses"


def test_chinese_is_the_default_language() -> None:
    i18n = (STATIC_DIR / "i18n.js").read_text(encoding="utf-8")
    assert 'LANGUAGES = ["zh-CN", "en"]' in i18n
    assert '<html lang="zh-CN">' in (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    assert re.search(r"[\u4e00-\u9fff]", strings("zh-CN")["app.title"])


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    service = Service(ServiceConfig.model_validate({"cameras": [{"id": "gate", "url": "rtsp://cam.local/a"}]}))
    with TestClient(create_app(service, frozenset(["static-test-key-0123456789"]))) as client:
        yield client


def test_the_page_and_its_assets_are_public_and_the_data_is_not(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    for asset in re.findall(r'(?:src|href)="(/console/[^"]+)"', page.text):
        assert client.get(asset).status_code == 200, asset
    assert client.get("/api/v1/alarms").status_code == 401
    assert client.get("/api/v1/cameras").status_code == 401


def test_every_module_import_resolves_and_is_served_as_javascript(client: TestClient) -> None:
    for module in STATIC_DIR.glob("*.js"):
        for target in re.findall(r'from "\./([\w.]+\.js)"', module.read_text(encoding="utf-8")):
            response = client.get(f"/console/{target}")
            assert response.status_code == 200, f"{module.name} imports {target}"
            assert response.headers["content-type"].startswith("text/javascript")
    for lang in LANGUAGES:
        response = client.get(f"/console/i18n/{lang}.json")
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("asset", ["../__init__.py", "..%2F__init__.py", "%2e%2e/%2e%2e/app.py", "nope.js",
                                   "i18n", "i18n/fr.json", "/etc/passwd"])
def test_nothing_but_console_files_is_served(client: TestClient, asset: str) -> None:
    response = client.get(f"/console/{asset}")
    assert response.status_code == 404, response.text
    assert "import" not in response.text
