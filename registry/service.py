"""The registry, one facade over its parts, in one database with the 1:N face/plate match API.

* :mod:`registry.people`: residents, visitors, the watchlist, enrollment
* :mod:`registry.vehicles`: vehicles by plate
* :mod:`registry.templates`: encrypted face templates, key rotation, biometric holders
* :mod:`registry.matcher`: the face index kept in step with the database, face and plate matching
* :mod:`registry.changes`: the transactions they share (version bump, audit, template events)

Callers use :class:`Registry`; its methods are the parts' methods (same signatures and docs).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine

from registry import db
from registry.changes import Changes, default_actor
from registry.config import RegistrySettings
from registry.crypto import TemplateCipher
from registry.index import FaceIndex
from registry.matcher import Matcher
from registry.people import People
from registry.templates import BiometricHolder, Templates
from registry.vehicles import Vehicles
from storage.db import make_engine

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _part_method(part: str, method: Callable[Concatenate[Any, _P], _R]) -> Callable[Concatenate[Any, _P], _R]:
    """A method of :class:`Registry` that calls ``method`` on its attribute ``part``."""

    def call(self: Any, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return method(getattr(self, part), *args, **kwargs)

    functools.update_wrapper(call, method)
    return call


class Registry:
    """Residents, faces, vehicles, visitors and the watchlist in one database.

    Args:
        engine: a migrated database (see :meth:`open`).
        settings: thresholds, backend, model id, retention.
        cipher: keyring for templates at rest.
        actor: who is recorded in the audit log for changes made through this object.
    """

    def __init__(
        self, engine: Engine, settings: RegistrySettings, cipher: TemplateCipher, actor: str | None = None
    ) -> None:
        self.engine, self.settings, self.cipher = engine, settings, cipher
        self.actor = actor or default_actor()
        self.changes = Changes(engine, self.actor)
        self.templates = Templates(self.changes, settings, cipher)
        self.people = People(self.changes, self.templates, settings)
        self.vehicles = Vehicles(self.changes)
        self.matcher = Matcher(engine, settings, cipher, self.people.describe, self.vehicles.plate_book)
        self.changes.after_commit(self.matcher.expire)  # our own change is visible on the next search

    @classmethod
    def open(
        cls,
        settings: RegistrySettings | None = None,
        *,
        url: str | None = None,
        migrate: bool = True,
        actor: str | None = None,
    ) -> Registry:
        """Open (and by default migrate) the configured database."""
        settings = settings or RegistrySettings()
        engine = make_engine(url or settings.resolved_database_url())
        if migrate:
            db.upgrade(engine)
        return cls(engine, settings, TemplateCipher.from_settings(settings), actor)

    def close(self) -> None:
        self.engine.dispose()

    def update_resident(self, resident_id: str, **changes: Any) -> None:
        # Spelled out: ``**changes`` could name ``self``, which a forwarded signature cannot allow.
        self.people.update_resident(resident_id, **changes)

    @property
    def index(self) -> FaceIndex:
        """This process's face index (see :meth:`refresh`)."""
        return self.matcher.index

    @property
    def holders(self) -> list[BiometricHolder]:
        return self.templates.holders

    version = _part_method("changes", Changes.version)
    audit_log = _part_method("changes", Changes.audit_log)

    add_resident = _part_method("people", People.add_resident)
    get_resident = _part_method("people", People.get_resident)
    list_residents = _part_method("people", People.list_residents)
    find_residents = _part_method("people", People.find_residents)
    delete_resident = _part_method("people", People.delete_resident)
    add_visitor = _part_method("people", People.add_visitor)
    delete_visitor = _part_method("people", People.delete_visitor)
    list_visitors = _part_method("people", People.list_visitors)
    get_visitor = _part_method("people", People.get_visitor)
    list_watchlist = _part_method("people", People.list_watchlist)
    get_watchlist_entry = _part_method("people", People.get_watchlist_entry)
    purge_expired_visitors = _part_method("people", People.purge_expired_visitors)
    add_watchlist_entry = _part_method("people", People.add_watchlist_entry)
    delete_watchlist_entry = _part_method("people", People.delete_watchlist_entry)
    delete_owner = _part_method("people", People.delete_owner)
    existing_owners = _part_method("people", People.existing_owners)
    enroll = _part_method("people", People.enroll)

    add_vehicle = _part_method("vehicles", Vehicles.add_vehicle)
    delete_vehicle = _part_method("vehicles", Vehicles.delete_vehicle)
    list_vehicles = _part_method("vehicles", Vehicles.list_vehicles)
    get_vehicle = _part_method("vehicles", Vehicles.get_vehicle)

    add_holder = _part_method("templates", Templates.add_holder)
    add_templates = _part_method("templates", Templates.add_templates)
    reembed = _part_method("templates", Templates.reembed)
    delete_template = _part_method("templates", Templates.delete_template)
    delete_templates = _part_method("templates", Templates.delete_templates)
    template_ids = _part_method("templates", Templates.template_ids)
    template_counts = _part_method("templates", Templates.template_counts)
    load_crop = _part_method("templates", Templates.load_crop)
    rotate_key = _part_method("templates", Templates.rotate_key)
    key_ids_in_use = _part_method("templates", Templates.key_ids_in_use)

    refresh = _part_method("matcher", Matcher.refresh)
    match_faces = _part_method("matcher", Matcher.match_faces)
    match_plate = _part_method("matcher", Matcher.match_plate)
