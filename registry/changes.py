"""Registry transactions and the field checks every part shares.

Every change runs in one transaction that first bumps ``registry_state.version`` (serialising
writers) and writes an audit row and, for templates, a ``template_events`` row, so that each
process's face index can follow the changes of every other (see :mod:`registry.matcher`).
"""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Delete, Engine, select, update
from sqlalchemy.orm import Session

from registry.plates import normalise_plate
from registry.schema import AuditEntry, RegistryState, TemplateEvent, utcnow
from registry.types import AuditRecord


class RegistryError(ValueError):
    """A request the registry refuses (unknown id, bad field, duplicate plate ...)."""


@dataclass
class Change:
    """One open registry transaction: its session, the version it bumped to, and who makes it."""

    session: Session
    version: int
    actor: str

    def audit(self, action: str, entity: str, entity_id: str | None, **details: Any) -> None:
        self.session.add(
            AuditEntry(
                actor=self.actor,
                action=action,
                entity=entity,
                entity_id=entity_id,
                details=details,
                at=utcnow(),
            )
        )

    def template_event(self, template_id: str, model_id: str, op: str) -> None:
        self.session.add(
            TemplateEvent(version=self.version, template_id=template_id, model_id=model_id, op=op)
        )


class Changes:
    """Opens the registry's write transactions and reads their audit log.

    Args:
        engine: the registry's database.
        actor: who is recorded in the audit log.
    """

    def __init__(self, engine: Engine, actor: str) -> None:
        self.engine, self.actor = engine, actor
        self._after_commit: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after each committed change made through this object."""
        self._after_commit.append(callback)

    @contextmanager
    def begin(self) -> Iterator[Change]:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            version = session.execute(
                update(RegistryState)
                .where(RegistryState.id == 1)
                .values(version=RegistryState.version + 1)
                .returning(RegistryState.version)
            ).scalar_one()
            yield Change(session, version, self.actor)
        for callback in self._after_commit:
            callback()

    def version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(RegistryState.version)).scalar_one())

    def audit_log(self, entity_id: str | None = None) -> list[AuditRecord]:
        query = select(AuditEntry).order_by(AuditEntry.id)
        if entity_id:
            query = query.where(AuditEntry.entity_id == entity_id)
        with Session(self.engine) as s:
            return [
                AuditRecord(aware(a.at), a.actor, a.action, a.entity, a.entity_id, dict(a.details))
                for a in s.scalars(query)
            ]


def deleted(session: Session, statement: Delete) -> int:
    """Run a DELETE and return how many rows it removed."""
    result = cast("CursorResult[Any]", session.execute(statement))
    return int(result.rowcount)


def default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "system"


def checked_text(value: str, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise RegistryError(f"{what} must not be empty")
    if len(value) > 200:
        raise RegistryError(f"{what} is longer than 200 characters")
    return value


def checked_plate(text: str) -> str:
    plate = normalise_plate(text)
    if not 6 <= len(plate) <= 10:
        raise RegistryError(f"plate {text!r} is not a plate (normalised {plate!r})")
    return plate


def aware(value: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes for timezone columns: they were stored as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
