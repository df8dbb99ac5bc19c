"""Alarm rules: typed config (the ``rules:`` list of the YAML file) and pure evaluation.

Every sighting rule has a *where* (``cameras``, ``zones``) and a *when* (``schedule``); it fires
only for sightings inside both. ``cameras`` left out means every camera that runs what the rule
needs (``faces`` for person rules, ``plates`` for vehicle rules). ``zones`` left out means the
whole image. A zone-scoped rule also fires when an already identified track walks into the zone.

Without a ``rules:`` section the defaults apply (DESIGN.md): a watchlisted person seen by any
camera running ``faces`` and a watchlisted plate seen by any camera running ``plates`` each raise a
``critical`` alarm. ``rules: []`` turns every rule off.

Camera health rules (offline, tampered) are evaluated by :class:`HealthWatch`; the care rule by
:mod:`alarms.care`. Everything here is pure: times come from the inputs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, model_validator

from alarms.care import CareRule
from alarms.sightings import PersonSighting, Sighting, VehicleSighting
from alarms.types import AlarmDraft, AlarmType, RuleBase, Severity, Subject, dedup_key
from alarms.zones import Schedule, ZoneConfig
from registry.plates import PlateOwner
from streams.health import CameraState, HealthEvent, TamperKind

DedupScope = Literal["camera", "zone", "site"]


class SightingRuleBase(RuleBase):
    """Where and when a sighting rule applies, and how its alarms are deduplicated."""

    cameras: tuple[str, ...] | None = Field(
        default=None, description="Camera ids; left out: every camera running what the rule needs.")
    zones: tuple[str, ...] = Field(default=(), description="Zone ids; the rule fires only inside one of "
                                                           "them (left out: the whole image).")
    schedule: Schedule | None = Field(default=None, description="When the rule is active (left out: always).")
    dedup_scope: DedupScope = Field(default="camera", description="One alarm per subject per camera, "
                                                                  "per zone, or for the whole site.")


class WatchlistPersonRule(SightingRuleBase):
    """A person on the watchlist is seen."""

    type: Literal["watchlist_person"] = "watchlist_person"
    severity: Severity = Field(default="critical", description="Alarm severity.")
    min_similarity: float | None = Field(default=None, ge=-1, le=1,
                                         description="Extra similarity floor above the registry's threshold.")


class UnknownPersonRule(SightingRuleBase):
    """Someone nobody registered is seen in a restricted zone and/or during the schedule."""

    type: Literal["unknown_person"] = "unknown_person"
    severity: Severity = Field(default="high", description="Alarm severity.")
    min_share: float = Field(default=0.6, gt=0, le=1,
                             description="Least share of the track's vote that must say 'unknown'.")

    @model_validator(mode="after")
    def _scoped(self) -> UnknownPersonRule:
        if not self.zones and self.schedule is None:
            raise ValueError("unknown_person needs zones or a schedule (else every stranger alarms)")
        return self


class VehicleRuleBase(SightingRuleBase):
    min_match_confidence: float = Field(default=0.7, gt=0, le=1,
                                        description="Least plate-match confidence (exact 1.0; near < 1) to "
                                                    "count as the registered plate.")


class WatchlistVehicleRule(VehicleRuleBase):
    """A watchlisted plate is seen."""

    type: Literal["watchlist_vehicle"] = "watchlist_vehicle"
    severity: Severity = Field(default="critical", description="Alarm severity.")


class UnregisteredVehicleRule(VehicleRuleBase):
    """A plate read with confidence belongs to no registered vehicle (watchlist plates excluded)."""

    type: Literal["unregistered_vehicle"] = "unregistered_vehicle"
    severity: Severity = Field(default="medium", description="Alarm severity.")
    min_read_score: float = Field(default=0.8, gt=0, le=1,
                                  description="Least reader confidence for the text to be trusted.")


class VisitorExpiredRule(VehicleRuleBase):
    """A visitor (face, or a visitor's vehicle) is seen outside the visit's validity window."""

    type: Literal["visitor_expired"] = "visitor_expired"
    severity: Severity = Field(default="medium", description="Alarm severity.")
    grace_s: float = Field(default=0.0, ge=0, le=86400,
                           description="Seconds after valid_until still tolerated (vehicles).")


class CameraOfflineRule(RuleBase):
    """A camera stays offline, stalled or refused (wrong password) for ``grace_s``."""

    type: Literal["camera_offline"] = "camera_offline"
    severity: Severity = Field(default="high", description="Alarm severity.")
    cooldown_s: float = Field(default=1800.0, ge=0, le=7 * 86400, description="See RuleBase.")
    cameras: tuple[str, ...] | None = Field(default=None, description="Camera ids; left out: all cameras.")
    states: tuple[CameraState, ...] = Field(
        default=(CameraState.OFFLINE, CameraState.AUTH_FAILED, CameraState.STALLED), min_length=1,
        description="Camera states that count as offline.")
    grace_s: float = Field(default=60.0, ge=0, le=86400,
                           description="Seconds a camera must stay offline before the alarm.")

    @model_validator(mode="after")
    def _failure_states(self) -> CameraOfflineRule:
        bad = {CameraState.ONLINE, CameraState.CONNECTING} & set(self.states)
        if bad:
            raise ValueError(f"states must be failure states, not {sorted(bad)}")
        return self


class CameraTamperedRule(RuleBase):
    """A tamper check (frozen, black, defocus) raised on a camera."""

    type: Literal["camera_tampered"] = "camera_tampered"
    severity: Severity = Field(default="high", description="Alarm severity.")
    cooldown_s: float = Field(default=1800.0, ge=0, le=7 * 86400, description="See RuleBase.")
    cameras: tuple[str, ...] | None = Field(default=None, description="Camera ids; left out: all cameras.")
    kinds: tuple[TamperKind, ...] = Field(default=tuple(TamperKind), min_length=1,
                                          description="Tamper checks that alarm.")


PersonRule = WatchlistPersonRule | UnknownPersonRule | VisitorExpiredRule
VehicleRule = WatchlistVehicleRule | UnregisteredVehicleRule | VisitorExpiredRule
SightingRule = WatchlistPersonRule | UnknownPersonRule | WatchlistVehicleRule | UnregisteredVehicleRule | \
    VisitorExpiredRule
HealthRule = CameraOfflineRule | CameraTamperedRule
RuleConfig = Annotated[
    WatchlistPersonRule | UnknownPersonRule | WatchlistVehicleRule | UnregisteredVehicleRule
    | VisitorExpiredRule | CareRule | CameraOfflineRule | CameraTamperedRule,
    Field(discriminator="type"),
]
RULES_ADAPTER: TypeAdapter[list[RuleConfig]] = TypeAdapter(list[RuleConfig])

NEEDS: dict[str, frozenset[str]] = {
    "watchlist_person": frozenset({"faces"}),
    "unknown_person": frozenset({"faces"}),
    "watchlist_vehicle": frozenset({"plates"}),
    "unregistered_vehicle": frozenset({"plates"}),
    "visitor_expired": frozenset({"faces", "plates"}),
}
"""The camera analyses (any of) a sighting rule needs."""


def parse_rules(raw: Any) -> list[RuleConfig]:
    """Validate the ``rules:`` list of the YAML file (pydantic ``ValidationError`` when invalid)."""
    return RULES_ADAPTER.validate_python(raw)


def default_rules() -> list[RuleConfig]:
    """The rules that apply when the config has no ``rules:`` section."""
    return [WatchlistPersonRule(), WatchlistVehicleRule()]


@dataclass(frozen=True, slots=True)
class _Hit:
    """What a rule found: whom, and the facts that go into the alarm."""

    subject: Subject
    similarity: float | None = None
    plate_text: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class RuleSet:
    """The site's rules, checked against its cameras and zones; evaluates sightings."""

    def __init__(self, sighting_rules: Sequence[SightingRule], health_rules: Sequence[HealthRule],
                 care_rules: Sequence[CareRule], cameras: Mapping[str, frozenset[str]]) -> None:
        self.sighting_rules = tuple(sighting_rules)
        self.health_rules = tuple(health_rules)
        self.care_rules = tuple(care_rules)
        self.cameras = cameras
        """Rule id -> the camera ids it applies to."""

    @classmethod
    def build(cls, rules: Sequence[RuleConfig] | None, cameras: Mapping[str, Collection[str]],
              zones: Sequence[ZoneConfig] = ()) -> RuleSet:
        """Check the rules against the site and index them.

        Args:
            rules: the parsed ``rules:`` list; ``None`` (no section) means :func:`default_rules`.
            cameras: camera id -> what it runs (``faces``, ``vehicles``, ``plates``).
            zones: the configured zones.

        Raises:
            ValueError: duplicate rule or zone ids, unknown cameras or zones, a zone on a camera
                the rule does not cover, or a camera that does not run what the rule needs.
        """
        chosen = [r for r in (default_rules() if rules is None else rules) if r.enabled]
        _unique([r.id for r in chosen], "rule")
        _unique([z.id for z in zones], "zone")
        zone_cameras = {z.id: z.camera for z in zones}
        scopes = {r.id: _rule_cameras(r, cameras, zone_cameras) for r in chosen}
        return cls([r for r in chosen if isinstance(r, SightingRuleBase)],
                   [r for r in chosen if isinstance(r, CameraOfflineRule | CameraTamperedRule)],
                   [r for r in chosen if isinstance(r, CareRule)], scopes)

    def evaluate(self, sighting: Sighting) -> list[AlarmDraft]:
        """The alarm drafts one sighting raises (before dedup), in rule order."""
        drafts: list[AlarmDraft] = []
        for rule in self.sighting_rules:
            zone = self._where(rule, sighting)
            if zone is False:
                continue
            hit = rule_hit(rule, sighting)
            if hit is not None:
                drafts.append(_draft(rule, rule.type, sighting, zone, hit))
        return drafts

    def _where(self, rule: SightingRule, s: Sighting) -> str | Literal[False] | None:
        """The zone the rule fires in (``None``: no zone), or False when it does not apply."""
        if s.camera_id not in self.cameras[rule.id]:
            return False
        if rule.zones:
            inside = sorted(set(rule.zones) & s.zones)
            if not inside:
                return False
            zone: str | None = inside[0]
        elif s.trigger == "zone_entry":
            return False  # zone entries only matter to zone-scoped rules
        else:
            zone = None
        if rule.schedule is not None and not rule.schedule.active(s.occurred_at):
            return False
        return zone


def _unique(ids: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise ValueError(f"duplicate {what} id {i!r}")
        seen.add(i)


def _rule_cameras(rule: RuleConfig, cameras: Mapping[str, Collection[str]],
                  zone_cameras: Mapping[str, str]) -> frozenset[str]:
    """The cameras a rule applies to, checked against the site."""
    if isinstance(rule, CareRule):
        return frozenset()
    listed = rule.cameras
    unknown = sorted(set(listed or ()) - set(cameras))
    if unknown:
        raise ValueError(f"rule {rule.id!r}: unknown cameras {unknown}")
    if not isinstance(rule, SightingRuleBase):
        return frozenset(cameras if listed is None else listed)
    needs = NEEDS[rule.type]
    if listed is None:
        chosen = frozenset(c for c, run in cameras.items() if needs & set(run))
    else:
        idle = sorted(c for c in listed if not needs & set(cameras[c]))
        if idle:
            raise ValueError(f"rule {rule.id!r}: cameras {idle} do not run {sorted(needs)}")
        chosen = frozenset(listed)
    for zone in rule.zones:
        if zone not in zone_cameras:
            raise ValueError(f"rule {rule.id!r}: unknown zone {zone!r}")
        if zone_cameras[zone] not in chosen:
            raise ValueError(f"rule {rule.id!r}: zone {zone!r} is on camera {zone_cameras[zone]!r}, "
                             "which the rule does not cover")
    return chosen


def rule_hit(rule: SightingRule, s: Sighting) -> _Hit | None:
    """What ``rule`` finds in ``s`` regardless of where and when (``None``: nothing)."""
    if isinstance(s, PersonSighting):
        if isinstance(rule, WatchlistPersonRule):
            return watchlist_person(rule, s)
        if isinstance(rule, UnknownPersonRule):
            return unknown_person(rule, s)
        if isinstance(rule, VisitorExpiredRule):
            return visitor_person(s)
        return None
    if isinstance(rule, WatchlistVehicleRule):
        return watchlist_vehicle(rule, s)
    if isinstance(rule, UnregisteredVehicleRule):
        return unregistered_vehicle(rule, s)
    if isinstance(rule, VisitorExpiredRule):
        return visitor_vehicle(rule, s)
    return None


def watchlist_person(rule: WatchlistPersonRule, s: PersonSighting) -> _Hit | None:
    owner = s.owner
    if owner is None or owner.kind != "watchlist":
        return None
    if rule.min_similarity is not None and s.match.score < rule.min_similarity:
        return None
    return _Hit(Subject("watchlist", owner.id), s.match.score,
                details={"name": s.match.name, "watchlist_severity": s.match.severity,
                         "track_id": s.track_id})


def unknown_person(rule: UnknownPersonRule, s: PersonSighting) -> _Hit | None:
    if s.owner is not None or s.share < rule.min_share:
        return None
    return _Hit(Subject("unknown_track", f"{s.camera_id}:{s.track_id}"), s.match.score,
                details={"track_id": s.track_id, "best_candidate_score": s.match.score})


def visitor_person(s: PersonSighting) -> _Hit | None:
    owner = s.owner
    if owner is None or owner.kind != "visitor" or s.match.owner_status not in ("expired", "not_yet"):
        return None
    return _Hit(Subject("visitor", owner.id), s.match.score,
                details={"name": s.match.name, "visit_status": s.match.owner_status, "track_id": s.track_id})


def _owners(rule: VehicleRuleBase, s: VehicleSighting) -> tuple[PlateOwner, ...]:
    """The plate's registrations, if the match is confident enough to believe."""
    if s.match.status == "unknown" or s.match.confidence < rule.min_match_confidence:
        return ()
    return s.match.owners


def _plate(s: VehicleSighting) -> str:
    return s.match.plate or s.match.query or s.reading.text


def watchlist_vehicle(rule: WatchlistVehicleRule, s: VehicleSighting) -> _Hit | None:
    listed = [o for o in _owners(rule, s) if o.kind == "watchlist"]
    if not listed:
        return None
    entry = listed[0]
    return _Hit(Subject("watchlist", entry.entry_id), None, _plate(s),
                {"label": entry.label, "watchlist_severity": entry.severity, "read_text": s.reading.text,
                 "match_status": s.match.status, "match_confidence": s.match.confidence,
                 "track_id": s.track_id})


def unregistered_vehicle(rule: UnregisteredVehicleRule, s: VehicleSighting) -> _Hit | None:
    if not s.reading.valid or s.reading.score < rule.min_read_score:
        return None
    if _owners(rule, s):
        return None  # a registered vehicle, or a watchlisted plate (its own rule)
    text = s.reading.text
    return _Hit(Subject("plate", text), None, text,
                {"read_score": s.reading.score, "match_status": s.match.status, "track_id": s.track_id})


def visitor_vehicle(rule: VisitorExpiredRule, s: VehicleSighting) -> _Hit | None:
    grace = dt.timedelta(seconds=rule.grace_s)
    for o in _owners(rule, s):
        late = o.valid_until is not None and s.occurred_at > o.valid_until + grace
        if o.kind == "vehicle" and o.owner_kind == "visitor" and o.owner_id and late:
            until = o.valid_until.isoformat() if o.valid_until else None
            return _Hit(Subject("visitor", o.owner_id), None, _plate(s),
                        {"name": o.label, "valid_until": until, "track_id": s.track_id})
    return None


def _draft(rule: SightingRule, kind: AlarmType, s: Sighting, zone: str | None, hit: _Hit) -> AlarmDraft:
    scope = {"camera": s.camera_id, "zone": zone or s.camera_id, "site": "site"}[rule.dedup_scope]
    details = {**hit.details, "trigger": s.trigger}
    if s.box is not None and len(s.box) == 4:  # the subject in the snapshot (xyxy px): the console draws it
        details["box"] = [round(float(v), 1) for v in s.box]
    if isinstance(s, VehicleSighting):  # the plate was decided by a vote over the track's frames
        details.update(plate_votes=s.votes, plate_confidence=round(s.share, 3))
    return AlarmDraft(kind, rule.severity, rule.id, s.camera_id, zone, s.occurred_at, hit.subject,
                      dedup_key(rule.id, hit.subject, scope), rule.cooldown_s, hit.similarity, hit.plate_text,
                      details)


def event_time(event: HealthEvent) -> dt.datetime:
    """A health event's wall time as an aware UTC datetime."""
    return dt.datetime.fromtimestamp(event.at.wall, dt.UTC)


class HealthWatch:
    """Camera offline / tampered alarms from stream health events (pure; time passed in).

    A camera that enters a counted state is *pending*; it raises once it has stayed there for the
    rule's ``grace_s`` (checked on :meth:`tick`, or at once when ``grace_s`` is 0) and is forgotten
    when the camera is back. Going offline again within the cooldown is deduplicated downstream
    (same dedup key), so a flapping camera gives one alarm.
    """

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self._pending: dict[tuple[str, str], tuple[dt.datetime, HealthEvent, bool]] = {}

    def on_event(self, event: HealthEvent) -> list[AlarmDraft]:
        """Feed one health event; returns drafts due now."""
        out: list[AlarmDraft] = []
        for rule in self.rules.health_rules:
            if event.camera_id not in self.rules.cameras[rule.id]:
                continue
            if isinstance(rule, CameraTamperedRule):
                if event.is_tamper and event.active and event.tamper in rule.kinds:
                    out.append(_health_draft(rule, event, event_time(event)))
            elif not event.is_tamper:
                self._offline(rule, event)
        return out + self.tick(event_time(event))

    def tick(self, now: dt.datetime) -> list[AlarmDraft]:
        """Drafts for cameras pending for at least their rule's grace at ``now`` (each once)."""
        out: list[AlarmDraft] = []
        rules = {r.id: r for r in self.rules.health_rules if isinstance(r, CameraOfflineRule)}
        for key, (since, event, fired) in list(self._pending.items()):
            rule = rules[key[0]]
            if not fired and (now - since).total_seconds() >= rule.grace_s:
                self._pending[key] = (since, event, True)
                out.append(_health_draft(rule, event, since))
        return out

    def _offline(self, rule: CameraOfflineRule, event: HealthEvent) -> None:
        key = (rule.id, event.camera_id)
        if event.state not in rule.states:
            self._pending.pop(key, None)
        elif key not in self._pending:
            self._pending[key] = (event_time(event), event, False)


def _health_draft(rule: HealthRule, event: HealthEvent, since: dt.datetime) -> AlarmDraft:
    subject = Subject("camera", event.camera_id)
    details: dict[str, Any] = {"state": event.state.value, "reason": event.reason}
    if event.tamper is not None:
        details["tamper"] = event.tamper.value
    return AlarmDraft(rule.type, rule.severity, rule.id, event.camera_id, None, since, subject,
                      dedup_key(rule.id, subject, event.camera_id), rule.cooldown_s, details=details)
