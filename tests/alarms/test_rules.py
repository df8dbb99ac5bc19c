"""Alarm rules: config validation and pure evaluation tables, plus frames -> sightings -> alarms."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from alarms.care import CareRule
from alarms.dedup import Deduplicator
from alarms.rules import HealthWatch, RuleSet, default_rules, parse_rules
from alarms.sightings import CameraObserver, PersonSighting, Sighting, VehicleSighting
from alarms.types import AlarmDraft
from alarms.zones import ZoneConfig
from registry.plates import PlateMatch, PlateOwner
from registry.types import FaceMatch, Owner
from streams.frames import Instant
from streams.health import CameraState, HealthEvent, TamperKind
from tests.alarms.builders import plate_reading
from vision.cascade import ImageRecognition, PlateFinding
from vision.types import Detections, Face, PlateReading

SH = ZoneInfo("Asia/Shanghai")
DAY = dt.datetime(2025, 6, 6, 14, 0, tzinfo=SH)  # a Friday afternoon
NIGHT = dt.datetime(2025, 6, 6, 23, 30, tzinfo=SH)
CAMERAS = {"lobby": ["faces"], "gate": ["vehicles", "plates"], "yard": ["faces", "vehicles", "plates"]}
ZONES = [ZoneConfig(id="pool", camera="yard", polygon=((0, 0.5), (1, 0.5), (1, 1), (0, 1)))]
BOX = np.array([100, 100, 160, 220], np.float32)

# -- builders ---------------------------------------------------------------------------------

WATCHLISTED = FaceMatch("match", 0.62, Owner("watchlist", "w1"), name="嫌疑人A", owner_status="watchlist",
                        severity="high")
RESIDENT = FaceMatch("match", 0.71, Owner("resident", "r1"), name="张三", owner_status="active")
STRANGER = FaceMatch("unknown", 0.21)
VISITOR_OK = FaceMatch("match", 0.66, Owner("visitor", "v1"), name="访客", owner_status="valid")
VISITOR_LATE = FaceMatch("match", 0.66, Owner("visitor", "v1"), name="访客", owner_status="expired")
VISITOR_EARLY = FaceMatch("match", 0.66, Owner("visitor", "v1"), name="访客", owner_status="not_yet")


def person(match: FaceMatch, camera: str = "lobby", at: dt.datetime = DAY,
           zones: frozenset[str] = frozenset(), share: float = 1.0,
           trigger: Any = "decision") -> PersonSighting:
    return PersonSighting(camera, 7, at, BOX, zones, match, share, trigger)


PLATE_WATCH = PlateOwner("京A12345", "watchlist", "w9", "watchlist", "w9", "黑车", "critical")
PLATE_RESIDENT = PlateOwner("京A12345", "vehicle", "veh1", "resident", "r1", "张三")
PLATE_VISITOR = PlateOwner("京A12345", "vehicle", "veh2", "visitor", "v1", "访客",
                           valid_until=dt.datetime(2025, 6, 6, 12, 0, tzinfo=SH))


def plate_match(status: Any = "exact", confidence: float = 1.0, *owners: PlateOwner) -> PlateMatch:
    if status == "unknown":
        return PlateMatch("京A12345", "unknown")
    return PlateMatch("京A12345", status, "京A12345", confidence, owners)


def vehicle(match: PlateMatch, read: PlateReading | None = None, camera: str = "gate",
            at: dt.datetime = DAY) -> VehicleSighting:
    return VehicleSighting(camera, 3, at, BOX, frozenset(), read or plate_reading(), match)


def rules(raw: Any, zones: list[ZoneConfig] = ZONES) -> RuleSet:
    return RuleSet.build(None if raw is None else parse_rules(raw), CAMERAS, zones)


def kinds(drafts: list[AlarmDraft]) -> list[tuple[str, str, str | None]]:
    return [(d.type, d.severity, d.zone) for d in drafts]


# -- defaults ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("sighting", "expected"), [
    (person(WATCHLISTED), [("watchlist_person", "critical", None)]),
    (person(WATCHLISTED, camera="yard"), [("watchlist_person", "critical", None)]),
    (person(RESIDENT), []),
    (person(STRANGER), []),  # no unknown-person rule by default
    (person(VISITOR_LATE), []),  # nor a visitor rule
    (person(WATCHLISTED, camera="gate"), []),  # gate does not run faces
    (vehicle(plate_match("exact", 1.0, PLATE_WATCH)), [("watchlist_vehicle", "critical", None)]),
    (vehicle(plate_match("exact", 1.0, PLATE_RESIDENT)), []),
    (vehicle(plate_match("unknown")), []),  # no unregistered rule by default
    (vehicle(plate_match("exact", 1.0, PLATE_WATCH), camera="lobby"), []),  # lobby does not run plates
])
def test_default_rules(sighting: Sighting, expected: list[tuple[str, str, str | None]]) -> None:
    assert kinds(rules(None).evaluate(sighting)) == expected


def test_default_watchlist_draft_fields() -> None:
    [draft] = rules(None).evaluate(person(WATCHLISTED))
    assert draft.subject.kind == "watchlist" and draft.subject.id == "w1"
    assert draft.similarity == pytest.approx(0.62)
    assert draft.camera_id == "lobby" and draft.occurred_at == DAY
    assert draft.dedup_key == "watchlist_person|watchlist:w1|lobby"
    assert draft.details["name"] == "嫌疑人A" and draft.details["watchlist_severity"] == "high"
    assert [r.type for r in default_rules()] == ["watchlist_person", "watchlist_vehicle"]


def test_empty_rules_section_turns_everything_off() -> None:
    assert rules([]).evaluate(person(WATCHLISTED)) == []


# -- person rules -----------------------------------------------------------------------------

AFTER_HOURS = {"type": "unknown_person", "cameras": ["lobby"],
               "schedule": {"windows": [{"start": "22:00", "end": "06:00"}]}}
RESTRICTED = {"type": "unknown_person", "id": "pool-stranger", "zones": ["pool"], "severity": "critical"}


@pytest.mark.parametrize(("rule", "sighting", "expected"), [
    # stranger after hours
    (AFTER_HOURS, person(STRANGER, at=NIGHT), [("unknown_person", "high", None)]),
    (AFTER_HOURS, person(STRANGER, at=DAY), []),
    (AFTER_HOURS, person(RESIDENT, at=NIGHT), []),
    (AFTER_HOURS, person(STRANGER, at=NIGHT, share=0.5), []),  # the vote was not sure enough
    (AFTER_HOURS, person(STRANGER, camera="yard", at=NIGHT), []),  # other camera
    # stranger in a restricted zone
    (RESTRICTED, person(STRANGER, camera="yard", zones=frozenset({"pool"})),
     [("unknown_person", "critical", "pool")]),
    (RESTRICTED, person(STRANGER, camera="yard"), []),
    (RESTRICTED, person(STRANGER, camera="yard", zones=frozenset({"pool"}), trigger="zone_entry"),
     [("unknown_person", "critical", "pool")]),
    # watchlist with a similarity floor
    ({"type": "watchlist_person", "min_similarity": 0.6}, person(WATCHLISTED),
     [("watchlist_person", "critical", None)]),
    ({"type": "watchlist_person", "min_similarity": 0.7}, person(WATCHLISTED), []),
    # zone entries matter only to zone-scoped rules (the decision already raised the rest)
    ({"type": "watchlist_person"}, person(WATCHLISTED, camera="yard", zones=frozenset({"pool"}),
                                          trigger="zone_entry"), []),
    # visitor outside the validity window
    ({"type": "visitor_expired"}, person(VISITOR_LATE), [("visitor_expired", "medium", None)]),
    ({"type": "visitor_expired"}, person(VISITOR_EARLY), [("visitor_expired", "medium", None)]),
    ({"type": "visitor_expired"}, person(VISITOR_OK), []),
    ({"type": "visitor_expired"}, person(RESIDENT), []),
])
def test_person_rules(rule: dict[str, Any], sighting: PersonSighting,
                      expected: list[tuple[str, str, str | None]]) -> None:
    assert kinds(rules([rule]).evaluate(sighting)) == expected


def test_unknown_person_subject_is_the_track() -> None:
    [draft] = rules([RESTRICTED]).evaluate(person(STRANGER, camera="yard", zones=frozenset({"pool"})))
    assert draft.subject.kind == "unknown_track" and draft.subject.id == "yard:7"
    assert draft.rule_id == "pool-stranger"
    assert draft.dedup_key == "pool-stranger|unknown_track:yard:7|yard"


@pytest.mark.parametrize(("scope", "key"), [
    ("camera", "r|watchlist:w1|yard"), ("zone", "r|watchlist:w1|pool"), ("site", "r|watchlist:w1|site"),
])
def test_dedup_scope(scope: str, key: str) -> None:
    rule = {"type": "watchlist_person", "id": "r", "zones": ["pool"], "dedup_scope": scope}
    [draft] = rules([rule]).evaluate(person(WATCHLISTED, camera="yard", zones=frozenset({"pool"})))
    assert draft.dedup_key == key


# -- vehicle rules ----------------------------------------------------------------------------

GATE_UNREGISTERED = {"type": "unregistered_vehicle", "cameras": ["gate"]}
LATE_VISITOR = dt.datetime(2025, 6, 6, 14, 0, tzinfo=SH)  # two hours after valid_until


@pytest.mark.parametrize(("rule", "sighting", "expected"), [
    (GATE_UNREGISTERED, vehicle(plate_match("unknown")), [("unregistered_vehicle", "medium", None)]),
    (GATE_UNREGISTERED, vehicle(plate_match("exact", 1.0, PLATE_RESIDENT)), []),
    (GATE_UNREGISTERED, vehicle(plate_match("near", 0.85, PLATE_RESIDENT)), []),  # one confusable char
    (GATE_UNREGISTERED, vehicle(plate_match("near", 0.4, PLATE_RESIDENT)),  # too unsure: unregistered
     [("unregistered_vehicle", "medium", None)]),
    (GATE_UNREGISTERED, vehicle(plate_match("unknown"), plate_reading(score=0.5)), []),  # unreliable read
    (GATE_UNREGISTERED, vehicle(plate_match("unknown"), plate_reading("ABC", valid=False)), []),
    (GATE_UNREGISTERED, vehicle(plate_match("exact", 1.0, PLATE_WATCH)), []),  # the watchlist rule's job
    (GATE_UNREGISTERED, vehicle(plate_match("unknown"), camera="yard"), []),  # not a gate
    ({"type": "watchlist_vehicle"}, vehicle(plate_match("near", 0.85, PLATE_WATCH)),
     [("watchlist_vehicle", "critical", None)]),
    ({"type": "watchlist_vehicle"}, vehicle(plate_match("near", 0.425, PLATE_WATCH)), []),
    ({"type": "watchlist_vehicle", "min_match_confidence": 0.4},
     vehicle(plate_match("near", 0.425, PLATE_WATCH)), [("watchlist_vehicle", "critical", None)]),
    ({"type": "visitor_expired"}, vehicle(plate_match("exact", 1.0, PLATE_VISITOR), at=LATE_VISITOR),
     [("visitor_expired", "medium", None)]),
    ({"type": "visitor_expired", "grace_s": 3 * 3600},
     vehicle(plate_match("exact", 1.0, PLATE_VISITOR), at=LATE_VISITOR), []),
    ({"type": "visitor_expired"},
     vehicle(plate_match("exact", 1.0, PLATE_VISITOR), at=dt.datetime(2025, 6, 6, 11, 0, tzinfo=SH)), []),
    ({"type": "visitor_expired"}, vehicle(plate_match("exact", 1.0, PLATE_RESIDENT)), []),
])
def test_vehicle_rules(rule: dict[str, Any], sighting: VehicleSighting,
                       expected: list[tuple[str, str, str | None]]) -> None:
    assert kinds(rules([rule]).evaluate(sighting)) == expected


def test_vehicle_draft_fields() -> None:
    [draft] = rules([GATE_UNREGISTERED]).evaluate(vehicle(plate_match("unknown")))
    assert draft.plate_text == "京A12345"
    assert draft.subject.kind == "plate" and draft.subject.id == "京A12345"
    [watch] = rules(None).evaluate(vehicle(plate_match("near", 0.85, PLATE_WATCH)))
    assert (watch.subject.id, watch.plate_text, watch.details["label"]) == ("w9", "京A12345", "黑车")


# -- camera health ----------------------------------------------------------------------------

T0 = 1_750_000_000.0


def health(state: CameraState, seconds: float, camera: str = "gate", tamper: TamperKind | None = None,
           active: bool = True) -> HealthEvent:
    return HealthEvent(camera, state, None, "test", Instant(seconds, T0 + seconds), tamper, active)


def utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(T0 + seconds, dt.UTC)


OFFLINE = CameraState.OFFLINE
ONLINE = CameraState.ONLINE


@pytest.mark.parametrize(("rule", "events", "ticks", "expected_at"), [
    # grace 0: at once
    ({"grace_s": 0}, [health(OFFLINE, 0)], [], [0]),
    # default grace 60 s: raised by the tick after it, dated when it went offline
    ({}, [health(OFFLINE, 0)], [30, 59, 60, 90], [0]),
    # back within the grace: nothing
    ({}, [health(OFFLINE, 0), health(ONLINE, 20)], [90], []),
    # stalled then offline: one pending outage from the stall
    ({}, [health(CameraState.STALLED, 0), health(OFFLINE, 10)], [70], [0]),
    # wrong password counts; a state not listed does not
    ({}, [health(CameraState.AUTH_FAILED, 0)], [60], [0]),
    ({"states": ["offline"]}, [health(CameraState.STALLED, 0)], [600], []),
    # other camera not covered
    ({"cameras": ["lobby"], "grace_s": 0}, [health(OFFLINE, 0)], [], []),
    # two separate outages: two drafts (dedup makes them one alarm, below)
    ({"grace_s": 0}, [health(OFFLINE, 0), health(ONLINE, 5), health(OFFLINE, 10)], [], [0, 10]),
])
def test_camera_offline(rule: dict[str, Any], events: list[HealthEvent], ticks: list[float],
                        expected_at: list[float]) -> None:
    watch = HealthWatch(rules([{"type": "camera_offline", **rule}]))
    drafts = [d for e in events for d in watch.on_event(e)] + [d for t in ticks for d in watch.tick(utc(t))]
    assert [d.occurred_at for d in drafts] == [utc(t) for t in expected_at]
    assert all(d.type == "camera_offline" and d.subject.id == "gate" for d in drafts)


def test_flapping_camera_is_one_alarm_after_dedup() -> None:
    watch = HealthWatch(rules([{"type": "camera_offline", "grace_s": 0, "cooldown_s": 600}]))
    dedup = Deduplicator()
    raised = []
    for i, state in enumerate([OFFLINE, ONLINE, OFFLINE, ONLINE, OFFLINE]):
        event = health(state, i * 30)
        raised += dedup.admit(watch.on_event(event), utc(i * 30))
    assert len(raised) == 1


@pytest.mark.parametrize(("rule", "event", "expected"), [
    ({}, health(ONLINE, 0, tamper=TamperKind.BLACK), ["black"]),
    ({}, health(ONLINE, 0, tamper=TamperKind.FROZEN), ["frozen"]),
    ({}, health(ONLINE, 0, tamper=TamperKind.BLACK, active=False), []),  # cleared
    ({"kinds": ["black"]}, health(ONLINE, 0, tamper=TamperKind.DEFOCUS), []),
    ({}, health(OFFLINE, 0), []),  # not a tamper event
])
def test_camera_tampered(rule: dict[str, Any], event: HealthEvent, expected: list[str]) -> None:
    watch = HealthWatch(rules([{"type": "camera_tampered", **rule}]))
    drafts = watch.on_event(event)
    assert [d.details["tamper"] for d in drafts] == expected
    assert all(d.type == "camera_tampered" and d.severity == "high" for d in drafts)


# -- config -----------------------------------------------------------------------------------

EXAMPLE_YAML = """
rules:
  - type: watchlist_person            # on every camera running faces
  - type: watchlist_vehicle
  - id: stranger-at-night
    type: unknown_person
    cameras: [lobby]
    severity: high
    cooldown_s: 600
    schedule:
      timezone: Asia/Shanghai
      windows:
        - {days: [mon, tue, wed, thu, fri, sat, sun], start: "22:00", end: "06:00"}
  - id: pool-stranger
    type: unknown_person
    zones: [pool]
  - type: unregistered_vehicle
    cameras: [gate]
    min_read_score: 0.85
  - type: visitor_expired
  - type: care_not_seen
    not_seen_h: 24
  - type: camera_offline
    grace_s: 60
  - type: camera_tampered
    kinds: [black, frozen]
"""


def test_example_yaml() -> None:
    parsed = parse_rules(yaml.safe_load(EXAMPLE_YAML)["rules"])
    ruleset = RuleSet.build(parsed, CAMERAS, ZONES)
    assert [r.id for r in ruleset.sighting_rules] == [
        "watchlist_person", "watchlist_vehicle", "stranger-at-night", "pool-stranger", "unregistered_vehicle",
        "visitor_expired"]
    assert [r.type for r in ruleset.health_rules] == ["camera_offline", "camera_tampered"]
    assert isinstance(ruleset.care_rules[0], CareRule)
    assert ruleset.cameras["watchlist_person"] == {"lobby", "yard"}
    assert ruleset.cameras["visitor_expired"] == {"lobby", "gate", "yard"}
    assert ruleset.cameras["camera_offline"] == {"lobby", "gate", "yard"}


@pytest.mark.parametrize(("raw", "expected_error"), [
    ([{"type": "watchlist_person", "severity": "low"}], None),
    ([{"type": "teleport"}], "does not match any of the expected tags"),
    ([{"type": "watchlist_person", "colour": "red"}], "Extra inputs"),
    ([{"type": "watchlist_person", "severity": "urgent"}], "severity"),
    ([{"type": "watchlist_person", "cooldown_s": -1}], "cooldown_s"),
    ([{"type": "unknown_person"}], "needs zones or a schedule"),
    ([{"type": "camera_offline", "states": ["online"]}], "failure states"),
    ([{"type": "camera_offline", "states": []}], "states"),
    ([{"type": "watchlist_person", "id": "has space"}], "pattern"),
    ([{"type": "watchlist_person", "schedule": {"windows": [{"start": "08:00", "end": "08:00"}]}}], "both"),
])
def test_parse_rules(raw: Any, expected_error: str | None) -> None:
    if expected_error is None:
        parse_rules(raw)
        return
    with pytest.raises(ValidationError, match=expected_error):
        parse_rules(raw)


@pytest.mark.parametrize(("raw", "zones", "expected_error"), [
    ([{"type": "watchlist_person"}, {"type": "watchlist_person"}], ZONES, "duplicate rule id"),
    ([{"type": "watchlist_person"}, {"type": "watchlist_person", "id": "second"}], ZONES, None),
    ([{"type": "watchlist_person", "cameras": ["nowhere"]}], ZONES, "unknown cameras"),
    ([{"type": "watchlist_person", "cameras": ["gate"]}], ZONES, "do not run"),
    ([{"type": "unregistered_vehicle", "cameras": ["lobby"]}], ZONES, "do not run"),
    ([{"type": "unknown_person", "zones": ["moat"]}], ZONES, "unknown zone"),
    ([{"type": "unknown_person", "cameras": ["lobby"], "zones": ["pool"]}], ZONES, "does not cover"),
    ([{"type": "camera_offline", "cameras": ["nowhere"]}], ZONES, "unknown cameras"),
    ([], ZONES + ZONES, "duplicate zone id"),
    ([{"type": "watchlist_person"}, {"type": "watchlist_person", "enabled": False}], ZONES, None),
])
def test_build_checks_against_site(raw: Any, zones: list[ZoneConfig], expected_error: str | None) -> None:
    if expected_error is None:
        RuleSet.build(parse_rules(raw), CAMERAS, zones)
        return
    with pytest.raises(ValueError, match=expected_error):
        RuleSet.build(parse_rules(raw), CAMERAS, zones)


# -- frames -> sightings -> alarms --------------------------------------------------------------

def face(x: float, y: float = 200.0, score: float = 0.9) -> Face:
    box = np.array([x, y, x + 60, y + 80], np.float32)
    return Face(box, score, np.zeros((5, 2), np.float32), quality=0.8)


def frames_of_walk(match: FaceMatch, n: int = 10, camera: str = "lobby", y: float = 200.0,
                   start: dt.datetime = DAY) -> tuple[CameraObserver, list[Sighting]]:
    observer = CameraObserver(camera, ZONES)
    out: list[Sighting] = []
    for i in range(n):
        rec = ImageRecognition(faces=[face(50 + 15 * i, y)])
        out += observer.observe(rec, [match], (1000, 600), i * 0.2, start + dt.timedelta(seconds=i * 0.2),
                                frame_ref=i)
    for i in range(n, n + 15):  # walked out of view
        out += observer.observe(ImageRecognition(), [], (1000, 600), i * 0.2,
                                start + dt.timedelta(seconds=i * 0.2))
    return observer, out


def test_watchlisted_walk_past_gives_one_alarm() -> None:
    ruleset, dedup = rules(None), Deduplicator()
    _, sightings = frames_of_walk(WATCHLISTED)
    assert len(sightings) == 1
    raised = dedup.admit([d for s in sightings for d in ruleset.evaluate(s)], DAY)
    assert kinds(raised) == [("watchlist_person", "critical", None)]
    assert raised[0].details["track_id"] == 1
    assert isinstance(sightings[0], PersonSighting)
    ref = sightings[0].frame_ref  # the frame of the best observation, for the snapshot
    assert isinstance(ref, int) and ref in range(10)
    assert sightings[0].occurred_at == DAY + dt.timedelta(seconds=0.2 * ref)


def test_stranger_entering_restricted_zone_after_decision() -> None:
    # The track is decided high in the image (outside the pool zone), then walks down into it.
    observer = CameraObserver("yard", ZONES)
    ruleset = rules([RESTRICTED])
    drafts: list[AlarmDraft] = []
    for i in range(12):
        y = 50 + 30 * i  # feet cross y = 300 (0.5 of 600) after a few frames
        rec = ImageRecognition(faces=[face(300, y)])
        for s in observer.observe(rec, [STRANGER], (1000, 600), i * 0.2, DAY + dt.timedelta(seconds=i),
                                  frame_ref=i):
            drafts += ruleset.evaluate(s)
    assert kinds(drafts) == [("unknown_person", "critical", "pool")]
    assert drafts[0].details["trigger"] == "zone_entry"
    assert drafts[0].occurred_at == DAY + dt.timedelta(seconds=6)  # feet first below y=300 at frame 6


def test_vehicle_track_votes_on_plates() -> None:
    asked: list[str] = []

    def match_plate(text: str) -> PlateMatch:
        asked.append(text)
        return plate_match("exact", 1.0, PLATE_WATCH)

    observer = CameraObserver("gate", match_plate=match_plate)
    ruleset = rules(None)
    drafts: list[AlarmDraft] = []
    for i in range(8):
        car = Detections.build([[100 + 10 * i, 200, 400 + 10 * i, 450]], [0.9], [2])
        # One frame misreads the last character; the vote over the track's frames overrules it.
        plate = PlateFinding(plate_reading("京A12346" if i == 1 else "京A12345"), 0)
        rec = ImageRecognition(vehicles=car, plates=[plate])
        for s in observer.observe(rec, [], (1280, 720), i * 0.2, DAY + dt.timedelta(seconds=i * 0.2)):
            drafts += ruleset.evaluate(s)
    assert kinds(drafts) == [("watchlist_vehicle", "critical", None)]
    assert drafts[0].plate_text == "京A12345"
    assert asked == ["京A12345"]  # only the decided plate is matched, once
    assert drafts[0].details["plate_votes"] >= 3 and 0 < drafts[0].details["plate_confidence"] <= 1


def test_observer_rejects_misaligned_matches() -> None:
    observer = CameraObserver("lobby")
    with pytest.raises(ValueError, match="one registry match"):
        observer.observe(ImageRecognition(faces=[face(0)]), [], (1000, 600), 0.0, DAY)
    with pytest.raises(ValueError, match="timezone-aware"):
        observer.observe(ImageRecognition(), [], (1000, 600), 0.0, dt.datetime(2025, 6, 6))


def test_observer_close_decides_short_tracks() -> None:
    observer = CameraObserver("lobby")
    for i in range(2):  # fewer observations than votes_needed (3)
        rec = ImageRecognition(faces=[face(50 + 10 * i)])
        observer.observe(rec, [RESIDENT], (1000, 600), i * 0.2, DAY)
    [sighting] = observer.close(1.0)
    assert isinstance(sighting, PersonSighting) and sighting.owner == Owner("resident", "r1")
