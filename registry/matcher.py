"""The matcher: a face index kept in step with the database, and 1:N face and plate matching.

Each process keeps its own :class:`~registry.index.FaceIndex` and applies the template events
newer than the version it has seen before searching, so processes sharing one database agree
without restarts.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from models.manifest import EMBEDDING_DIM
from registry.changes import RegistryError, aware
from registry.config import RegistrySettings
from registry.crypto import TemplateCipher
from registry.index import FaceIndex, IndexedTemplate
from registry.matching import decide, normalise_queries
from registry.people import resident_info, visit_status
from registry.plates import PlateBook, PlateMatch, PlateOwner, match_plate
from registry.schema import (
    FaceTemplate,
    RegistryState,
    Resident,
    TemplateEvent,
    Vehicle,
    Visitor,
    WatchlistEntry,
    utcnow,
)
from registry.search import make_backend
from registry.templates import template_aad, template_owner
from registry.types import FaceMatch, Owner

logger = logging.getLogger(__name__)


class Matcher:
    """Face and plate matching against the registry's database.

    Args:
        engine: the registry's database.
        settings: model id, thresholds, search backend, refresh interval.
        cipher: keyring to decrypt templates into the index.
    """

    def __init__(self, engine: Engine, settings: RegistrySettings, cipher: TemplateCipher) -> None:
        self.engine, self.settings, self.cipher = engine, settings, cipher
        self.index = FaceIndex(
            settings.embedding_model, make_backend(settings.search_backend, EMBEDDING_DIM), EMBEDDING_DIM
        )
        self._last_check = -float("inf")
        self._plates: PlateBook | None = None
        self._plates_version = -1

    def expire(self) -> None:
        """Check the database on the next search (after a change of our own)."""
        self._last_check = -float("inf")

    # -- the index ------------------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> None:
        """Bring the face index up to the database's version (cheap when nothing changed)."""
        now = time.monotonic()
        if not force and now - self._last_check < self.settings.index_refresh_s:
            return
        self._last_check = now
        with Session(self.engine) as session:
            version = int(session.execute(select(RegistryState.version)).scalar_one())
            if version == self.index.version:
                return
            if self.index.version < 0:
                self._load_all(session)
                self.index.version = version
            else:
                self.index.version = max(version, self._apply_events(session, self.index.version))

    def _load_all(self, session: Session) -> None:
        query = select(FaceTemplate).where(FaceTemplate.model_id == self.index.model_id)
        batch: list[FaceTemplate] = []
        for row in session.scalars(query.execution_options(yield_per=2000)):
            batch.append(row)
            if len(batch) == 2000:
                self._index_rows(batch)
                batch = []
        self._index_rows(batch)
        logger.info("face index loaded: %s templates of %s", len(self.index), self.index.model_id)

    def _apply_events(self, session: Session, since: int) -> int:
        events = session.execute(
            select(TemplateEvent.version, TemplateEvent.template_id, TemplateEvent.op)
            .where(TemplateEvent.version > since, TemplateEvent.model_id == self.index.model_id)
            .order_by(TemplateEvent.id)
        ).all()
        last_op = {template_id: op for _, template_id, op in events}
        self.index.remove([t for t, op in last_op.items() if op == "remove"])
        added = [t for t, op in last_op.items() if op == "add"]
        for start in range(0, len(added), 500):
            chunk = added[start : start + 500]
            self._index_rows(list(session.scalars(select(FaceTemplate).where(FaceTemplate.id.in_(chunk)))))
        return max((v for v, _, _ in events), default=since)

    def _index_rows(self, rows: Sequence[FaceTemplate]) -> None:
        if not rows:
            return
        vectors = np.stack(
            [
                self.cipher.decrypt_embedding(r.key_id, r.embedding_ct, template_aad(r.id, r.model_id))
                for r in rows
            ]
        )
        self.index.upsert([IndexedTemplate(r.id, *template_owner(r)) for r in rows], vectors)

    # -- matching -------------------------------------------------------------------------------

    def match_faces(
        self,
        embeddings: npt.ArrayLike,
        *,
        model_id: str | None = None,
        threshold: float | None = None,
        now: dt.datetime | None = None,
    ) -> list[FaceMatch]:
        """Match ``(N, 512)`` float32 embeddings of ``model_id`` against the gallery.

        Embeddings of another model than the index's are refused (never compared).
        """
        model = model_id or self.settings.embedding_model
        if model != self.index.model_id:
            raise RegistryError(
                f"embeddings of {model} cannot be compared with {self.index.model_id} templates"
            )
        queries = normalise_queries(embeddings, EMBEDDING_DIM)
        self.refresh()
        limit = self.settings.match_threshold if threshold is None else threshold
        decisions = [decide(c, limit) for c in self.index.search(queries, self.settings.match_top_k)]
        owners = {d.best.owner_kind + ":" + d.best.owner_id for d in decisions if d.best is not None}
        details = self._owner_details(owners, now or utcnow())
        out = []
        for d in decisions:
            score = d.candidates[0].score if d.candidates else -1.0
            if d.best is None:
                out.append(FaceMatch("unknown", score, candidates=d.candidates))
                continue
            key = d.best.owner_kind + ":" + d.best.owner_id
            info = details.get(key, {})
            out.append(
                FaceMatch(
                    "match",
                    d.best.score,
                    Owner(d.best.owner_kind, d.best.owner_id),  # type: ignore[arg-type]
                    template_id=d.best.template_id,
                    candidates=d.candidates,
                    **info,
                )
            )
        return out

    def _owner_details(self, keys: set[str], now: dt.datetime) -> dict[str, dict[str, Any]]:
        by_kind: dict[str, list[str]] = {}
        for key in keys:
            kind, owner_id = key.split(":", 1)
            by_kind.setdefault(kind, []).append(owner_id)
        out: dict[str, dict[str, Any]] = {}
        with Session(self.engine) as s:
            for r in s.scalars(select(Resident).where(Resident.id.in_(by_kind.get("resident", [])))):
                out["resident:" + r.id] = {
                    "name": r.name,
                    "address": resident_info(r).address,
                    "owner_status": r.status,
                }
            for v in s.scalars(select(Visitor).where(Visitor.id.in_(by_kind.get("visitor", [])))):
                status = visit_status(aware(v.valid_from), aware(v.valid_until), now)
                out["visitor:" + v.id] = {"name": v.name, "owner_status": status}
            for w in s.scalars(
                select(WatchlistEntry).where(WatchlistEntry.id.in_(by_kind.get("watchlist", [])))
            ):
                out["watchlist:" + w.id] = {
                    "name": w.label,
                    "owner_status": "watchlist",
                    "severity": w.severity,
                }
        return out

    def match_plate(self, text: str) -> PlateMatch:
        """Exact, then OCR-confusion-aware near match of recognised plate text."""
        self.refresh()
        if self._plates is None or self._plates_version != self.index.version:
            self._plates, self._plates_version = self._load_plates(), self.index.version
        return match_plate(text, self._plates)

    def _load_plates(self) -> PlateBook:
        owners = []
        with Session(self.engine) as s:
            rows = s.execute(
                select(
                    Vehicle.plate,
                    Vehicle.id,
                    Vehicle.resident_id,
                    Vehicle.visitor_id,
                    Resident.name,
                    Visitor.name,
                    Visitor.valid_until,
                )
                .outerjoin(Resident, Resident.id == Vehicle.resident_id)
                .outerjoin(Visitor, Visitor.id == Vehicle.visitor_id)
            )
            for plate, vid, rid, visid, rname, vname, until in rows:
                kind: str = "resident" if rid else "visitor"
                owners.append(
                    PlateOwner(
                        plate,
                        "vehicle",
                        vid,
                        kind,
                        rid or visid,
                        label=rname or vname,
                        valid_until=None if until is None else aware(until),
                    )
                )
            for wplate, wid, label, severity in s.execute(
                select(
                    WatchlistEntry.plate, WatchlistEntry.id, WatchlistEntry.label, WatchlistEntry.severity
                ).where(WatchlistEntry.plate.is_not(None))
            ):
                owners.append(PlateOwner(str(wplate), "watchlist", wid, "watchlist", wid, label, severity))
        return PlateBook.build(owners)
