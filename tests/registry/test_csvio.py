"""Bulk CSV import/export (UTF-8 with Chinese names) with a per-row report."""

from __future__ import annotations

import io

from registry import csvio
from registry.service import Registry

RESIDENTS = """\ufeffname,building,unit,room,phone,status,tags
张伟,3,2,501,13800000001,active,lives_alone;elderly
李娜,3,2,502,,active,
,3,2,503,,active,
王芳,3,2,504,,moved_away,
赵敏,3,2,505,,moved_out,
"""


def test_import_residents_reports_each_row_and_skips_bad_ones(registry: Registry) -> None:
    results = csvio.import_residents(registry, io.StringIO(RESIDENTS.lstrip("\ufeff")))
    assert [(r.line, r.status) for r in results] == [
        (2, "created"),
        (3, "created"),
        (4, "error"),
        (5, "error"),
        (6, "created"),
    ]
    assert "name must not be empty" in results[2].message and "status must be one of" in results[3].message
    names = {r.name: r for r in registry.list_residents()}
    assert set(names) == {"张伟", "李娜", "赵敏"}
    assert names["张伟"].tags == ("elderly", "lives_alone") and names["张伟"].address == "3-2-501"
    report = csvio.report_text(results)
    assert "line 4: error: name must not be empty" in report and report.endswith(
        "3 created, 0 updated, 2 errors\n"
    )


def test_export_import_round_trip_updates_by_id(registry: Registry) -> None:
    csvio.import_residents(registry, io.StringIO(RESIDENTS))
    out = io.StringIO()
    assert csvio.export_residents(registry, out) == 3
    text = out.getvalue().replace("李娜", "李娜娜")
    results = csvio.import_residents(registry, io.StringIO(text))
    assert [r.status for r in results] == ["updated"] * 3
    assert sorted(r.name for r in registry.list_residents()) == sorted(["张伟", "李娜娜", "赵敏"])


def test_import_vehicles_by_owner_name_or_id(registry: Registry) -> None:
    csvio.import_residents(registry, io.StringIO(RESIDENTS))
    zhang = registry.find_residents("张伟")[0]
    vehicles = (
        "plate,plate_colour,plate_type,parking_permit,resident_id,name,building,unit,room\n"
        "京A·12345,blue,small,P-001,,张伟,3,2,501\n"
        f"粤BD12345,green,new_energy,,{zhang.id},,,,\n"
        "京A12345,blue,,,,李娜,3,2,502\n"
        "沪C54321,,,,,无名氏,,,\n"
        "XX,,,,,张伟,,,\n"
        "苏E11111,yellow,,,missing-id,,,,\n"
    )
    results = csvio.import_vehicles(registry, io.StringIO(vehicles))
    assert [r.status for r in results] == ["created", "created", "error", "error", "error", "error"]
    assert "already registered" in results[2].message and "0 residents named 无名氏" in results[3].message
    assert "not a plate" in results[4].message and "no resident missing-id" in results[5].message
    out = io.StringIO()
    assert csvio.export_vehicles(registry, out) == 2
    assert "京A12345,blue,small,P-001" in out.getvalue() and "张伟" in out.getvalue()


def test_missing_column_is_one_clear_error(registry: Registry) -> None:
    results = csvio.import_residents(registry, io.StringIO("名字,building\n张三,1\n"))
    assert [(r.line, r.status, r.message) for r in results] == [(1, "error", "missing column(s): name")]
