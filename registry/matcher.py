"""The matcher: a face index kept in step with the database, and 1:N face and plate matching.

Each process keeps its own :class:`~registry.index.FaceIndex` and applies the template events
newer than the version it has seen before searching, so processes sharing one database agree
without restarts.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from models.manifest import EMBEDDING_DIM
from registry.changes import RegistryError
from registry.config import RegistrySettings
from registry.crypto import TemplateCipher
from registry.index import FaceIndex, IndexedTemplate
from registry.matching import Candidate, FaceDecision, decide, normalise_queries
from registry.people import OwnerRecord
from registry.plates import PlateBook, PlateMatch, match_plate
from registry.schema import FaceTemplate, RegistryState, TemplateEvent, utcnow
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
        describe: the records of those of the given owners that exist (``People.describe``).
        plate_book: every registered plate with its owner (``Vehicles.plate_book``).
    """

    def __init__(
        self,
        engine: Engine,
        settings: RegistrySettings,
        cipher: TemplateCipher,
        describe: Callable[[Collection[Owner]], dict[Owner, OwnerRecord]],
        plate_book: Callable[[], PlateBook],
    ) -> None:
        self.engine, self.settings, self.cipher = engine, settings, cipher
        self._describe, self._plate_book = describe, plate_book
        self._owner_cache = _OwnerCache(-1)
        self._owner_lock = threading.Lock()
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

        Embeddings of another model than the index's are refused (never compared). What a match
        says about its owner comes from a cache of the current registry version, so a frame of
        known faces costs no database query beyond the version check.
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
        records = self._owner_records({_owner(d.best) for d in decisions if d.best is not None})
        now = now or utcnow()
        return [_face_match(d, records, now) for d in decisions]

    def _owner_records(self, owners: set[Owner]) -> dict[Owner, OwnerRecord | None]:
        """The records of ``owners`` at the index's version; only owners not yet cached are read.

        Locked: inference workers match concurrently, and a miss is rare (once per owner and version).
        """
        with self._owner_lock:
            if self._owner_cache.version != self.index.version:
                self._owner_cache = _OwnerCache(self.index.version)
            records = self._owner_cache.records
            missing = {o for o in owners if o not in records}
            if missing:
                found = self._describe(missing)
                records.update({o: found.get(o) for o in missing})  # None: deleted meanwhile
            return {o: records.get(o) for o in owners}

    def match_plate(self, text: str) -> PlateMatch:
        """Exact, then OCR-confusion-aware near match of recognised plate text."""
        self.refresh()
        if self._plates is None or self._plates_version != self.index.version:
            self._plates, self._plates_version = self._plate_book(), self.index.version
        return match_plate(text, self._plates)


@dataclass
class _OwnerCache:
    """Owner records read at one registry version (``None``: the owner no longer exists)."""

    version: int
    records: dict[Owner, OwnerRecord | None] = field(default_factory=dict)


def _owner(candidate: Candidate) -> Owner:
    return Owner(candidate.owner_kind, candidate.owner_id)  # type: ignore[arg-type]


def _face_match(
    decision: FaceDecision, records: dict[Owner, OwnerRecord | None], now: dt.datetime
) -> FaceMatch:
    """The match of one decision, with what ``records`` say about its owner at ``now``."""
    score = decision.candidates[0].score if decision.candidates else -1.0
    if decision.best is None:
        return FaceMatch("unknown", score, candidates=decision.candidates)
    owner = _owner(decision.best)
    record = records.get(owner)
    return FaceMatch(
        "match",
        decision.best.score,
        owner,
        name=None if record is None else record.name,
        address=None if record is None else record.address,
        owner_status=None if record is None else record.owner_status(now),
        severity=None if record is None else record.severity,
        template_id=decision.best.template_id,
        candidates=decision.candidates,
    )
