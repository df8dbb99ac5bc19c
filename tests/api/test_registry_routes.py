"""The registry over REST and recognition on demand: the real app, a real registry on both databases,
the real face engine, and the alarm store as the registry's biometric holder (as the service wires it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alarms.store import AlarmStore
from api.accounts.store import Accounts
from api.app import create_app
from registry.config import RegistrySettings
from registry.schema import FaceTemplate, Resident, Vehicle, Visitor
from registry.service import Registry
from tests.alarms.conftest import make_draft
from tests.registry.conftest import TEST_KEY, analyzer  # noqa: F401  (the session's face engine)
from vision.cascade import Cascade

KEY = "registry-test-key-0123"
AUTH = {"X-API-Key": KEY}
ImageFn = Callable[[str], npt.NDArray[np.uint8]]


@dataclass
class Site:
    """What the registry routes read from the service: its registry and its loaded cascade."""

    registry: Registry | None
    cascade: Cascade | None
    store: AlarmStore | None = None
    public_base_url: str = "http://estatewatch.test"


@pytest.fixture
def site(db_url: str, tmp_path: Path, analyzer: Any) -> Iterator[Site]:  # noqa: F811
    registry = Registry.open(RegistrySettings(database_url=db_url, template_key=TEST_KEY))
    store = AlarmStore.open(db_url, data_dir=tmp_path / "alarms", cipher=registry.cipher)
    registry.add_holder(store)  # as Service._start_alarms does
    try:
        yield Site(registry, Cascade(analyzer, None, None), store)
    finally:
        store.close()
        registry.close()


@pytest.fixture
def client(site: Site) -> Iterator[TestClient]:
    with TestClient(create_app(site, frozenset([KEY]))) as tc:  # type: ignore[arg-type]
        yield tc


def jpeg(image: npt.NDArray[np.uint8]) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return bytes(data.tobytes())


def count(registry: Registry, table: Any, *where: Any) -> int:
    with Session(registry.engine) as s:
        return int(s.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def add_resident(client: TestClient, **fields: Any) -> str:
    response = client.post("/api/v1/residents", json={"name": "王芳", **fields}, headers=AUTH)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


# -- enrollment, recognition, deletion --------------------------------------------------------
def test_enroll_recognize_and_delete_over_http(client: TestClient, site: Site, image: ImageFn) -> None:
    registry, store = site.registry, site.store
    assert registry is not None and store is not None
    yao = add_resident(client, name="姚明", building="3", unit="2", room="1501")
    enrolled = client.post(f"/api/v1/residents/{yao}/templates", headers=AUTH,
                           files=[("photos", ("yaoming.jpg", jpeg(image("yaoming.jpg")), "image/jpeg"))])
    assert enrolled.status_code == 201, enrolled.text
    (template_id,) = enrolled.json()["template_ids"]
    listed = client.get(f"/api/v1/residents/{yao}/templates", headers=AUTH).json()
    assert listed["template_ids"] == [template_id]
    car = client.post("/api/v1/vehicles", json={"plate": "京A12345", "resident_id": yao}, headers=AUTH)
    assert car.status_code == 201, car.text
    face = image("yaoming.jpg")[:64, :64]
    alarm = store.raise_alarm(make_draft(kind="resident", subject_id=yao), None, face)
    assert store.crop_bytes(alarm.id) is not None
    shown = client.get(f"/api/v1/alarms/{alarm.id}/crop", headers=AUTH)
    assert shown.status_code == 200, shown.text
    assert shown.headers["content-type"] == "image/jpeg" and shown.headers["cache-control"] == "no-store"
    assert shown.content == store.crop_bytes(alarm.id)
    viewed = client.get("/api/v1/audit", params={"action": "view_crop"}, headers=AUTH).json()
    assert [(e["entity"], e["entity_id"]) for e in viewed] == [("alarm", alarm.id)]
    made = client.post("/api/v1/keys", headers=AUTH, json={"name": "viewer-like", "scopes": ["alarms:read"]})
    assert made.status_code == 201, made.text
    no_faces = client.get(f"/api/v1/alarms/{alarm.id}/crop", headers={"X-API-Key": made.json()["key"]})
    assert no_faces.status_code == 403 and "faces:read" in no_faces.json()["detail"]

    seen = client.post("/api/v1/recognize", headers=AUTH,
                       files={"image": ("players.jpg", jpeg(image("players.jpg")), "image/jpeg")})
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert body["image"] == "players.jpg" and len(body["faces"]) > 1
    matched = [f["match"] for f in body["faces"] if f["match"]["status"] == "match"]
    assert len(matched) == 1, [f["match"] for f in body["faces"]]
    assert matched[0]["owner"] == {"kind": "resident", "id": yao}
    assert matched[0]["name"] == "姚明" and matched[0]["address"] == "3-2-1501"
    assert matched[0]["template_id"] == template_id
    unknown = next(f["match"] for f in body["faces"] if f["match"]["status"] == "unknown")
    assert unknown["owner"] is None and unknown["name"] is None

    deleted = client.delete(f"/api/v1/residents/{yao}", headers=AUTH)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"owner": {"kind": "resident", "id": yao}, "templates": 1, "vehicles": 1,
                              "visitors": 0}
    assert count(registry, Resident, Resident.id == yao) == 0
    assert count(registry, FaceTemplate) == 0  # no template, so no crop (crops live on the template row)
    assert count(registry, Vehicle, Vehicle.resident_id == yao) == 0
    assert count(registry, Vehicle) == 0
    assert store.crop_bytes(alarm.id) is None  # the alarm crop is redacted
    gone = client.get(f"/api/v1/alarms/{alarm.id}/crop", headers=AUTH)
    assert gone.status_code == 404 and "no face crop" in gone.json()["detail"]
    assert client.get(f"/api/v1/residents/{yao}", headers=AUTH).status_code == 404
    again = client.post("/api/v1/recognize", headers=AUTH,
                        files={"image": ("players.jpg", jpeg(image("players.jpg")), "image/jpeg")}).json()
    assert all(f["match"]["status"] == "unknown" for f in again["faces"])


def test_templates_delete_one_and_all(client: TestClient, site: Site, image: ImageFn) -> None:
    rid = add_resident(client)
    photo = jpeg(image("yaoming.jpg"))
    enrolled = client.post(f"/api/v1/residents/{rid}/templates", headers=AUTH,
                           files=[("photos", ("a.jpg", photo, "image/jpeg")),
                                  ("photos", ("b.jpg", photo, "image/jpeg"))])
    assert enrolled.status_code == 201, enrolled.text
    first, second = enrolled.json()["template_ids"]
    assert client.delete(f"/api/v1/residents/{rid}/templates/{first}", headers=AUTH).status_code == 204
    assert client.delete(f"/api/v1/residents/{rid}/templates/{first}", headers=AUTH).status_code == 404
    assert client.get(f"/api/v1/residents/{rid}/templates", headers=AUTH).json()["template_ids"] == [second]
    assert client.delete(f"/api/v1/residents/{rid}/templates", headers=AUTH).json() == {"deleted": 1}
    assert site.registry is not None and count(site.registry, FaceTemplate) == 0


# -- residents CRUD and search ----------------------------------------------------------------
def test_resident_crud_and_search(client: TestClient) -> None:
    a = add_resident(client, name="王芳", building="1", unit="2", room="301", tags=["vip", "elderly"])
    b = add_resident(client, name="李伟", building="1", unit="3", room="101", tags=["vip"])
    add_resident(client, name="王强", building="2", status="moved_out")

    def search(**params: Any) -> list[str]:
        response = client.get("/api/v1/residents", params=params, headers=AUTH)
        assert response.status_code == 200, response.text
        return sorted(r["name"] for r in response.json()["items"])

    assert search() == ["李伟", "王强", "王芳"]
    assert search(name="王") == ["王强", "王芳"]
    assert search(building="1") == ["李伟", "王芳"]
    assert search(building="1", unit="2", room="301") == ["王芳"]
    assert search(status="moved_out") == ["王强"]
    assert search(tag="vip") == ["李伟", "王芳"]
    assert search(tag=["vip", "elderly"]) == ["王芳"]
    page = client.get("/api/v1/residents", params={"limit": 1, "offset": 1}, headers=AUTH).json()
    assert page["total"] == 3 and len(page["items"]) == 1

    got = client.get(f"/api/v1/residents/{a}", headers=AUTH).json()
    assert got == {"id": a, "name": "王芳", "building": "1", "unit": "2", "room": "301", "phone": None,
                   "status": "active", "tags": ["elderly", "vip"]}
    patched = client.patch(f"/api/v1/residents/{a}", json={"status": "moved_out", "room": None, "tags": []},
                           headers=AUTH)
    assert patched.status_code == 200, patched.text
    assert patched.json()["status"] == "moved_out" and patched.json()["room"] is None
    assert patched.json()["tags"] == [] and patched.json()["name"] == "王芳"
    assert client.delete(f"/api/v1/residents/{b}", headers=AUTH).status_code == 200
    assert search() == ["王强", "王芳"]


def test_visitors_vehicles_and_watchlist(client: TestClient, site: Site) -> None:
    host = add_resident(client)
    start = dt.datetime(2026, 5, 1, 8, tzinfo=dt.UTC)
    visit = {"name": "张三", "host_resident_id": host, "valid_from": start.isoformat(),
             "valid_until": (start + dt.timedelta(hours=4)).isoformat()}
    created = client.post("/api/v1/visitors", json=visit, headers=AUTH)
    assert created.status_code == 201, created.text
    vid = created.json()["id"]
    got = client.get(f"/api/v1/visitors/{vid}", headers=AUTH).json()
    assert got["valid_until"].startswith("2026-05-01T12:00")
    assert [v["id"] for v in client.get("/api/v1/visitors", params={"host_resident_id": host},
                                        headers=AUTH).json()] == [vid]
    backwards = {**visit, "valid_until": (start - dt.timedelta(hours=1)).isoformat()}
    refused = client.post("/api/v1/visitors", json=backwards, headers=AUTH)
    assert refused.status_code == 422 and "cannot end before it starts" in refused.json()["detail"]

    car = client.post("/api/v1/vehicles", json={"plate": "沪B 67890", "visitor_id": vid}, headers=AUTH).json()
    assert car["plate"] == "沪B67890" and car["visitor_id"] == vid
    listed = client.get("/api/v1/vehicles", params={"visitor_id": vid}, headers=AUTH).json()
    assert [v["id"] for v in listed] == [car["id"]]
    by_plate = client.get("/api/v1/vehicles", params={"plate": "沪b 678"}, headers=AUTH).json()
    assert [v["id"] for v in by_plate] == [car["id"]]
    near = client.get("/api/v1/vehicles/match", params={"plate": "沪B67B90"}, headers=AUTH).json()
    assert (near["status"], near["plate"], near["confused_positions"]) == ("near", "沪B67890", [4])
    owners = [(o["kind"], o["owner_kind"], o["owner_id"]) for o in near["owners"]]
    assert owners == [("vehicle", "visitor", vid)]
    exact = client.get("/api/v1/vehicles/match", params={"plate": "沪b67890"}, headers=AUTH).json()
    assert (exact["status"], exact["confidence"]) == ("exact", 1.0)
    assert client.get("/api/v1/vehicles/match", params={"plate": "京Z00000"},
                      headers=AUTH).json()["status"] == "unknown"
    duplicate = client.post("/api/v1/vehicles", json={"plate": "沪B67890", "resident_id": host}, headers=AUTH)
    assert duplicate.status_code == 422 and "already registered" in duplicate.json()["detail"]
    both = client.post("/api/v1/vehicles", json={"plate": "京A11111", "resident_id": host, "visitor_id": vid},
                       headers=AUTH)
    assert both.status_code == 422 and "exactly one" in both.json()["detail"]

    gone = client.delete(f"/api/v1/visitors/{vid}", headers=AUTH).json()
    assert gone["vehicles"] == 1 and gone["owner"] == {"kind": "visitor", "id": vid}
    assert site.registry is not None and count(site.registry, Visitor) == 0
    assert client.get("/api/v1/vehicles", headers=AUTH).json() == []

    entry = client.post("/api/v1/watchlist", json={"label": "plate thief", "plate": "粤C99999",
                                                   "severity": "high"}, headers=AUTH)
    assert entry.status_code == 201, entry.text
    eid = entry.json()["id"]
    assert entry.json()["plate"] == "粤C99999"
    assert [e["id"] for e in client.get("/api/v1/watchlist", headers=AUTH).json()] == [eid]
    assert client.delete(f"/api/v1/watchlist/{eid}", headers=AUTH).json()["owner"]["kind"] == "watchlist"
    assert client.get(f"/api/v1/watchlist/{eid}", headers=AUTH).status_code == 404


def test_watchlist_person_is_enrolled_and_recognised(client: TestClient, image: ImageFn) -> None:
    eid = client.post("/api/v1/watchlist", json={"label": "tall man"}, headers=AUTH).json()["id"]
    enrolled = client.post(f"/api/v1/watchlist/{eid}/templates", headers=AUTH,
                           files={"photos": ("yaoming.jpg", jpeg(image("yaoming.jpg")), "image/jpeg")})
    assert enrolled.status_code == 201, enrolled.text
    body = client.post("/api/v1/recognize", headers=AUTH,
                       files={"image": ("yaoming.jpg", jpeg(image("yaoming.jpg")), "image/jpeg")}).json()
    (face,) = body["faces"]
    assert face["match"]["owner"] == {"kind": "watchlist", "id": eid}
    assert face["match"]["owner_status"] == "watchlist" and face["match"]["severity"] == "critical"
    assert client.delete(f"/api/v1/watchlist/{eid}/templates", headers=AUTH).json() == {"deleted": 1}
    assert client.get(f"/api/v1/watchlist/{eid}/templates", headers=AUTH).json()["template_ids"] == []


# -- CSV ---------------------------------------------------------------------------------------
def test_csv_import_reports_each_row_and_stores_only_good_ones(client: TestClient, site: Site) -> None:
    registry = site.registry
    assert registry is not None
    residents = ("id,name,building,unit,room,phone,status,tags\n"
                 ",王芳,1,2,301,,active,vip;elderly\n"
                 ",,1,2,302,,active,\n"                   # no name
                 ",李伟,1,3,101,,gone,\n"                  # bad status
                 ",张伟,2,1,1501,,,\n")
    report = client.post("/api/v1/residents/import", headers=AUTH,
                         files={"file": ("residents.csv", "\ufeff" + residents, "text/csv")})
    assert report.status_code == 200, report.text
    body = report.json()
    assert (body["created"], body["updated"], body["errors"]) == (2, 0, 2)
    assert [(r["line"], r["status"]) for r in body["rows"]] == [(2, "created"), (3, "error"), (4, "error"),
                                                               (5, "created")]
    assert "name" in body["rows"][1]["message"] and "status" in body["rows"][2]["message"]
    assert sorted(r.name for r in registry.list_residents()) == ["张伟", "王芳"]

    vehicles = ("plate,plate_colour,plate_type,parking_permit,resident_id,name,building,unit,room\n"
                "京A12345,blue,,P-1,,王芳,1,2,301\n"
                "12,,,,,王芳,1,2,301\n"
                "京B22222,,,,,无此人,9,9,9\n")
    report = client.post("/api/v1/vehicles/import", headers=AUTH,
                         files={"file": ("vehicles.csv", vehicles.encode(), "text/csv")}).json()
    assert [r["status"] for r in report["rows"]] == ["created", "error", "error"]
    assert "0 residents named 无此人" in report["rows"][2]["message"]
    assert [v.plate for v in registry.list_vehicles()] == ["京A12345"]

    exported = client.get("/api/v1/vehicles/export", headers=AUTH)
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.text.splitlines()[1].startswith("京A12345,blue,,P-1,")
    lines = client.get("/api/v1/residents/export", headers=AUTH).text.splitlines()
    assert lines[0] == "id,name,building,unit,room,phone,status,tags" and len(lines) == 3


@pytest.mark.parametrize("content", ["name_of_person,building\n王芳,1\n", ""])
def test_csv_without_its_columns_is_refused_whole(client: TestClient, site: Site, content: str) -> None:
    response = client.post("/api/v1/residents/import", headers=AUTH,
                           files={"file": ("r.csv", content.encode(), "text/csv")})
    assert response.status_code == 422 and "missing column(s): name" in response.json()["detail"]
    assert site.registry is not None and site.registry.list_residents() == []


def test_csv_that_is_not_utf8_is_refused(client: TestClient, site: Site) -> None:
    data = "id,name\n,王芳\n".encode("gbk")
    response = client.post("/api/v1/residents/import", headers=AUTH,
                           files={"file": ("r.csv", data, "text/csv")})
    assert response.status_code == 422 and "not UTF-8" in response.json()["detail"]
    assert site.registry is not None and site.registry.list_residents() == []


# -- bad input ----------------------------------------------------------------------------------
def refusals(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail["message"] == "enrollment refused: nothing was stored"
    return {r["photo"]: r["reasons"] for r in detail["refusals"]}


def test_enrollment_refusals_name_each_photo_and_store_nothing(client: TestClient, site: Site,
                                                               image: ImageFn) -> None:
    rid = add_resident(client)
    blank = np.full((480, 640, 3), 200, np.uint8)
    photos = [("photos", ("yaoming.jpg", jpeg(image("yaoming.jpg")), "image/jpeg")),
              ("photos", ("wall.jpg", jpeg(blank), "image/jpeg")),
              ("photos", ("team.jpg", jpeg(image("players.jpg")), "image/jpeg")),
              ("photos", ("notes.jpg", b"this is not an image", "image/jpeg"))]
    found = refusals(client.post(f"/api/v1/residents/{rid}/templates", headers=AUTH, files=photos))
    assert set(found) == {"wall.jpg", "team.jpg", "notes.jpg"}
    assert found["wall.jpg"] == ["no face found"]
    assert found["team.jpg"][0].startswith("several faces found")
    assert found["notes.jpg"][0].startswith("cannot decode the image")
    assert site.registry is not None and count(site.registry, FaceTemplate) == 0


def test_oversized_and_mistyped_uploads(client: TestClient, site: Site, image: ImageFn) -> None:
    rid = add_resident(client)
    big = jpeg(image("yaoming.jpg")) + b"\0" * (10 * 1024 * 1024)
    url = f"/api/v1/residents/{rid}/templates"
    too_big = client.post(url, headers=AUTH, files={"photos": ("big.jpg", big, "image/jpeg")})
    assert too_big.status_code == 413 and "big.jpg" in too_big.json()["detail"]
    text = client.post(url, headers=AUTH, files={"photos": ("a.txt", b"hello", "text/plain")})
    assert text.status_code == 415 and "a.txt" in text.json()["detail"]
    as_json = client.post(url, headers=AUTH, json={"photos": ["yaoming.jpg"]})
    assert as_json.status_code == 422 and as_json.json()["detail"][0]["loc"] == ["body", "photos"]
    many = [("photos", (f"{i}.jpg", b"x", "image/jpeg")) for i in range(21)]
    too_many = client.post(url, headers=AUTH, files=many)
    assert too_many.status_code == 422 and "at most 20" in too_many.json()["detail"]
    assert site.registry is not None and count(site.registry, FaceTemplate) == 0

    def recognize(name: str, data: bytes, content_type: str) -> Any:
        return client.post("/api/v1/recognize", headers=AUTH, files={"image": (name, data, content_type)})

    assert recognize("big.jpg", big, "image/jpeg").status_code == 413
    not_image = recognize("x.jpg", b"GIF89a?", "image/jpeg")
    assert not_image.status_code == 422 and "not a decodable image" in not_image.json()["detail"]
    assert recognize("x.json", b"{}", "application/json").status_code == 415


def test_malformed_json_and_wrong_content_type(client: TestClient, site: Site) -> None:
    broken = client.post("/api/v1/residents", content='{"name": "王芳",'.encode(), headers={
        **AUTH, "Content-Type": "application/json"})
    assert broken.status_code == 422 and broken.json()["detail"][0]["type"] == "json_invalid"
    form = client.post("/api/v1/residents", data={"name": "王芳"}, headers=AUTH)
    assert form.status_code == 422
    unknown_field = client.post("/api/v1/residents", json={"name": "王芳", "flat": "1"}, headers=AUTH)
    assert unknown_field.status_code == 422 and unknown_field.json()["detail"][0]["loc"] == ["body", "flat"]
    bad_status = client.post("/api/v1/residents", json={"name": "王芳", "status": "gone"}, headers=AUTH)
    assert bad_status.status_code == 422
    assert site.registry is not None and site.registry.list_residents() == []


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1/residents/nope"), ("PATCH", "/api/v1/residents/nope"),
    ("DELETE", "/api/v1/residents/nope"), ("GET", "/api/v1/residents/nope/templates"),
    ("DELETE", "/api/v1/residents/nope/templates"), ("DELETE", "/api/v1/residents/nope/templates/t"),
    ("GET", "/api/v1/visitors/nope"), ("DELETE", "/api/v1/visitors/nope"),
    ("DELETE", "/api/v1/vehicles/nope"), ("GET", "/api/v1/watchlist/nope"),
    ("DELETE", "/api/v1/watchlist/nope"), ("GET", "/api/v1/watchlist/nope/templates"),
    ("DELETE", "/api/v1/watchlist/nope/templates"), ("DELETE", "/api/v1/watchlist/nope/templates/t"),
])
def test_unknown_ids_are_404(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, headers=AUTH, json={} if method == "PATCH" else None)
    assert response.status_code == 404 and "nope" in response.json()["detail"]


def test_unknown_owner_of_a_new_vehicle_or_visitor_is_404(client: TestClient, site: Site) -> None:
    car = client.post("/api/v1/vehicles", json={"plate": "京A12345", "resident_id": "nope"}, headers=AUTH)
    assert car.status_code == 404 and car.json()["detail"] == "no resident 'nope'"
    visit = client.post("/api/v1/visitors", headers=AUTH, json={
        "name": "x", "host_resident_id": "nope", "valid_from": "2026-05-01T08:00:00Z",
        "valid_until": "2026-05-01T09:00:00Z"})
    assert visit.status_code == 404 and visit.json()["detail"] == "no resident 'nope'"
    assert site.registry is not None and site.registry.list_vehicles() == []


def test_recognize_without_the_stage_or_the_models(client: TestClient, site: Site, image: ImageFn) -> None:
    photo = {"image": ("yaoming.jpg", jpeg(image("yaoming.jpg")), "image/jpeg")}
    plates = client.post("/api/v1/recognize", params={"run": "plates"}, headers=AUTH, files=photo)
    assert plates.status_code == 422 and "no plates models" in plates.json()["detail"]
    site.cascade = None
    assert client.post("/api/v1/recognize", headers=AUTH, files=photo).status_code == 503
    rid = add_resident(client)
    enroll = client.post(f"/api/v1/residents/{rid}/templates", headers=AUTH,
                         files={"photos": ("yaoming.jpg", jpeg(image("yaoming.jpg")), "image/jpeg")})
    assert enroll.status_code == 503


def test_registry_routes_need_a_key(client: TestClient) -> None:
    for method, path in [("GET", "/api/v1/residents"), ("POST", "/api/v1/recognize"),
                         ("GET", "/api/v1/vehicles"), ("GET", "/api/v1/visitors"),
                         ("GET", "/api/v1/watchlist"), ("GET", "/api/v1/residents/export")]:
        assert client.request(method, path).status_code == 401, path


# -- audit -----------------------------------------------------------------------------------
def test_registry_changes_are_audited_under_the_caller(db_url: str, site: Site, image: ImageFn) -> None:
    """Every registry change over HTTP names the user who made it, with ids only: no template, no photo."""
    accounts = Accounts.open(db_url)
    try:
        with TestClient(create_app(site, frozenset([KEY]), accounts)) as client:  # type: ignore[arg-type]
            created = client.post("/api/v1/users", headers=AUTH, json={
                "username": "clerk", "password": "correct horse battery", "role": "admin"})
            assert created.status_code == 201, created.text
            login = client.post("/api/v1/auth/login", json={"username": "clerk",
                                                             "password": "correct horse battery"})
            clerk = {"Authorization": f"Bearer {login.json()['access_token']}"}
            changes = registry_changes_as(client, clerk, image)
            response = client.get("/api/v1/audit", headers=clerk, params={"actor": "clerk", "limit": 1000})
            assert response.status_code == 200, response.text
            entries = [e for e in reversed(response.json()) if e["entity"] not in ("session",)]
            assert [(e["action"], e["entity"], e["entity_id"]) for e in entries] == changes
            who = {(e["actor"], e["actor_kind"], e["source"]) for e in entries}
            assert who == {("clerk", "user", "testclient")}
            yao = changes[0][2]
            assert entries[0]["details"] == {"fields": ["building", "name", "room", "status", "unit"]}
            assert entries[1]["details"] == {"fields": ["phone", "tags"]}
            assert entries[-1]["details"] == {"templates": 0, "vehicles": 1, "visitors": 0}
            template_id = entries[2]["details"]["template_ids"][0]
            assert entries[2]["details"] == {"template_ids": [template_id]}
            for entry in entries:  # details are ids, counts, field names: nothing long enough to be data
                assert all(len(str(v)) <= 100 for v in entry["details"].values()), entry
            assert "/9j/" not in response.text and "embedding" not in response.text  # no JPEG base64

            one = client.get("/api/v1/audit", headers=clerk, params={"entity": "resident", "entity_id": yao})
            assert [e["action"] for e in one.json()] == ["delete", "import_update", "enroll", "update",
                                                         "create"]
            assert client.get("/api/v1/audit", headers=clerk, params={"actor": "nobody"}).json() == []
    finally:
        accounts.close()


def registry_changes_as(client: TestClient, headers: dict[str, str],
                        image: ImageFn) -> list[tuple[str, str, str | None]]:
    """Make one change of each kind over HTTP; the ``(action, entity, id)`` expected in the audit log."""
    def ok(response: Any) -> Any:
        assert response.status_code in (200, 201, 204), response.text
        return response.json() if response.status_code != 204 else None

    yao = ok(client.post("/api/v1/residents", headers=headers,
                         json={"name": "姚明", "building": "3", "unit": "2", "room": "1501"}))["id"]
    ok(client.patch(f"/api/v1/residents/{yao}", headers=headers,
                    json={"phone": "13800000000", "tags": ["vip"]}))
    photo = ("photos", ("yaoming.jpg", jpeg(image("yaoming.jpg")), "image/jpeg"))
    (template_id,) = ok(client.post(f"/api/v1/residents/{yao}/templates", headers=headers,
                                    files=[photo]))["template_ids"]
    ok(client.delete(f"/api/v1/residents/{yao}/templates/{template_id}", headers=headers))
    car = ok(client.post("/api/v1/vehicles", headers=headers, json={"plate": "京A12345", "resident_id": yao}))
    start = dt.datetime(2026, 5, 1, 8, tzinfo=dt.UTC)
    visitor = ok(client.post("/api/v1/visitors", headers=headers, json={
        "name": "张三", "host_resident_id": yao, "valid_from": start.isoformat(),
        "valid_until": (start + dt.timedelta(hours=4)).isoformat()}))["id"]
    ok(client.delete(f"/api/v1/visitors/{visitor}", headers=headers))
    entry = ok(client.post("/api/v1/watchlist", headers=headers, json={"label": "tall man"}))["id"]
    ok(client.delete(f"/api/v1/watchlist/{entry}/templates", headers=headers))
    ok(client.delete(f"/api/v1/watchlist/{entry}", headers=headers))
    imported = ok(client.post("/api/v1/residents/import", headers=headers, files={"file": (
        "r.csv", f"id,name,building\n{yao},姚明,3\n,王芳,1\n,,1\n", "text/csv")}))["rows"]
    new = imported[1]["id"]
    plate = ok(client.post("/api/v1/vehicles", headers=headers,
                           json={"plate": "沪B67890", "resident_id": new}))
    ok(client.delete(f"/api/v1/vehicles/{plate['id']}", headers=headers))
    ok(client.delete(f"/api/v1/residents/{yao}", headers=headers))
    return [("create", "resident", yao), ("update", "resident", yao), ("enroll", "resident", yao),
            ("delete", "face_template", template_id), ("create", "vehicle", car["id"]),
            ("create", "visitor", visitor), ("delete", "visitor", visitor), ("create", "watchlist", entry),
            ("delete_templates", "watchlist", entry), ("delete", "watchlist", entry),
            ("import_create", "resident", new), ("import_update", "resident", yao),
            ("create", "vehicle", plate["id"]), ("delete", "vehicle", plate["id"]),
            ("delete", "resident", yao)]
