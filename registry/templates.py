"""Face templates and their keys: encrypted storage, re-embedding, key rotation, biometric holders.

A template is one L2-normalised embedding of one person, encrypted at rest with the template
keyring (AES-GCM bound to its row by :func:`template_aad`), with the enrollment crop it came from.
Every insert and delete also writes a ``template_events`` row, which face indexes follow.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from models.manifest import EMBEDDING_DIM
from registry.changes import Change, Changes, RegistryError
from registry.config import RegistrySettings
from registry.crypto import TemplateCipher
from registry.enrollment import FaceAnalyzerLike, decode_photo
from registry.matching import normalise_queries
from registry.schema import FaceTemplate, Resident, Visitor, WatchlistEntry, new_id
from registry.types import Owner
from storage.db import checkpoint

logger = logging.getLogger(__name__)


def template_aad(template_id: str, model_id: str, what: str = "embedding") -> bytes:
    """Associated data binding a ciphertext to its row and purpose."""
    return f"estatewatch/{what}/{template_id}/{model_id}".encode()


class BiometricHolder(Protocol):
    """Biometric data of registry persons kept outside the registry's tables (alarm face crops).

    The registry tells every holder added with :meth:`Templates.add_holder` which persons it
    deleted (after the deletion commits) and re-encrypts through it when keys rotate, so that
    data follows every delete path and the same keys, while the registry never imports its holder.
    """

    def forget_owners(self, owners: Sequence[Owner]) -> int:
        """Remove or redact what belongs to these deleted persons; returns how many records changed."""
        ...

    def reencrypt(self, cipher: TemplateCipher) -> int:
        """Re-encrypt what is not under ``cipher``'s current key; returns how many items."""
        ...

    def key_ids_in_use(self) -> set[str]:
        """Key ids of the ciphertexts it holds."""
        ...


class Templates:
    """Encrypted face templates of residents, visitors and watchlist entries, and their keys.

    Args:
        changes: the registry's transactions.
        settings: the active embedding model.
        cipher: keyring for templates and crops at rest.
    """

    def __init__(self, changes: Changes, settings: RegistrySettings, cipher: TemplateCipher) -> None:
        self.changes, self.engine, self.settings, self.cipher = changes, changes.engine, settings, cipher
        self.holders: list[BiometricHolder] = []

    def add_holder(self, holder: BiometricHolder) -> None:
        """Have ``holder`` follow this registry's deletions and key rotations (idempotent)."""
        if not any(h is holder for h in self.holders):
            self.holders.append(holder)

    def add_templates(
        self,
        owner: Owner,
        embeddings: npt.ArrayLike,
        *,
        model_id: str | None = None,
        qualities: Sequence[float | None] | None = None,
        crops: Sequence[bytes | None] | None = None,
    ) -> list[str]:
        """Store ``(N, 512)`` embeddings (normalised here) as encrypted templates of ``owner``."""
        with self.changes.begin() as change:
            return self.insert(change, owner, embeddings, model_id, qualities, crops)

    def insert(
        self,
        change: Change,
        owner: Owner,
        embeddings: npt.ArrayLike,
        model_id: str | None,
        qualities: Sequence[float | None] | None,
        crops: Sequence[bytes | None] | None,
    ) -> list[str]:
        """Add templates of ``owner`` within ``change``; returns their ids."""
        vectors = normalise_queries(embeddings, EMBEDDING_DIM)
        model = model_id or self.settings.embedding_model
        qualities = qualities or [None] * len(vectors)
        crops = crops or [None] * len(vectors)
        if not len(qualities) == len(crops) == len(vectors):
            raise RegistryError("embeddings, qualities and crops differ in length")
        _check_owner(change.session, owner)
        ids = []
        for vector, quality, crop in zip(vectors, qualities, crops, strict=True):
            template_id = new_id()
            kid, blob = self.cipher.encrypt_embedding(vector, template_aad(template_id, model))
            crop_ct = (
                None if crop is None else self.cipher.encrypt(crop, template_aad(template_id, model, "crop"))
            )
            if crop_ct is not None and crop_ct[0] != kid:
                raise RuntimeError("key changed during encryption")
            change.session.add(
                FaceTemplate(
                    id=template_id,
                    model_id=model,
                    dim=len(vector),
                    key_id=kid,
                    embedding_ct=blob,
                    crop_ct=None if crop_ct is None else crop_ct[1],
                    quality=quality,
                    **{f"{owner.kind}_id": owner.id},
                )
            )
            change.template_event(template_id, model, "add")
            ids.append(template_id)
        change.audit("enroll", owner.kind, owner.id, templates=len(ids), model=model)
        return ids

    def drop(self, change: Change, where: Any) -> int:
        """Delete the templates matching ``where`` within ``change``; returns how many."""
        rows = change.session.execute(select(FaceTemplate.id, FaceTemplate.model_id).where(where)).all()
        for template_id, model_id in rows:
            change.template_event(template_id, model_id, "remove")
        if rows:
            change.session.execute(delete(FaceTemplate).where(FaceTemplate.id.in_([r[0] for r in rows])))
        return len(rows)

    def after_biometric_delete(self, owners: Sequence[Owner] = ()) -> None:
        """After a committed deletion: fold the WAL, then let every holder forget the deleted persons.

        A holder's failure propagates (the caller must learn that biometric data may remain).
        """
        checkpoint(self.engine)  # SQLite: no deleted page survives in the WAL
        if owners:
            for holder in self.holders:
                holder.forget_owners(owners)

    def reembed(
        self, analyzer: FaceAnalyzerLike, model_id: str, *, drop_old: bool = False
    ) -> tuple[int, int]:
        """Re-embed every template of another model from its stored crop with ``analyzer``.

        Returns ``(re-embedded, skipped)``; skipped templates have no crop or no single face in it.
        """
        with Session(self.engine) as s:
            rows = s.execute(
                select(
                    FaceTemplate.id,
                    FaceTemplate.resident_id,
                    FaceTemplate.visitor_id,
                    FaceTemplate.watchlist_id,
                ).where(FaceTemplate.model_id != model_id)
            ).all()
        done = skipped = 0
        for template_id, rid, vid, wid in rows:
            crop = self.load_crop(template_id)
            faces = None if crop is None else _single_face(analyzer, crop)
            if faces is None:
                skipped += 1
                continue
            owner = (
                Owner("resident", rid)
                if rid
                else Owner("visitor", vid)
                if vid
                else Owner("watchlist", str(wid))
            )
            with self.changes.begin() as change:
                self.insert(change, owner, faces[0][None], model_id, [faces[1]], [crop])
                if drop_old:
                    self.drop(change, FaceTemplate.id == template_id)
            done += 1
        if drop_old:
            self.after_biometric_delete()
        logger.info("re-embedded %s templates with %s (%s skipped)", done, model_id, skipped)
        return done, skipped

    def delete_template(self, template_id: str) -> None:
        with self.changes.begin() as change:
            if self.drop(change, FaceTemplate.id == template_id) == 0:
                raise RegistryError(f"no face template {template_id}")
            change.audit("delete", "face_template", template_id)
        self.after_biometric_delete()

    def delete_templates(self, owner: Owner) -> int:
        """Delete every template (and crop) of ``owner`` in one transaction; returns how many."""
        with self.changes.begin() as change:
            _check_owner(change.session, owner)
            count = self.drop(change, getattr(FaceTemplate, f"{owner.kind}_id") == owner.id)
            change.audit("delete", "face_template", None, owner=owner.id, templates=count)
        self.after_biometric_delete()
        return count

    def template_ids(self, owner: Owner, model_id: str | None = None) -> list[str]:
        query = select(FaceTemplate.id).where(getattr(FaceTemplate, f"{owner.kind}_id") == owner.id)
        if model_id:
            query = query.where(FaceTemplate.model_id == model_id)
        with Session(self.engine) as session:
            return list(session.scalars(query.order_by(FaceTemplate.created_at)))

    def template_counts(self) -> dict[str, int]:
        """Number of templates per embedding model."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(FaceTemplate.model_id, func.count()).group_by(FaceTemplate.model_id)
            )
            return {model: int(count) for model, count in rows}

    def load_crop(self, template_id: str) -> bytes | None:
        """The decrypted enrollment crop (JPEG bytes) of a template, if one was stored."""
        with Session(self.engine) as session:
            row = session.get(FaceTemplate, template_id)
            if row is None or row.crop_ct is None:
                return None
            return self.cipher.decrypt(row.key_id, row.crop_ct, template_aad(row.id, row.model_id, "crop"))

    # -- keys -----------------------------------------------------------------------------------

    def rotate_key(self, batch: int = 500) -> int:
        """Re-encrypt every template (and crop) not under the current key; returns how many."""
        done = 0
        current = self.cipher.current_key_id
        while True:
            with self.changes.begin() as change:
                rows = list(
                    change.session.scalars(
                        select(FaceTemplate).where(FaceTemplate.key_id != current).limit(batch)
                    )
                )
                for row in rows:
                    vector = self.cipher.decrypt_embedding(
                        row.key_id, row.embedding_ct, template_aad(row.id, row.model_id)
                    )
                    crop_aad = template_aad(row.id, row.model_id, "crop")
                    crop = (
                        None
                        if row.crop_ct is None
                        else self.cipher.decrypt(row.key_id, row.crop_ct, crop_aad)
                    )
                    row.key_id, row.embedding_ct = self.cipher.encrypt_embedding(
                        vector, template_aad(row.id, row.model_id)
                    )
                    row.crop_ct = None if crop is None else self.cipher.encrypt(crop, crop_aad)[1]
                if rows:
                    change.audit("rotate_key", "face_template", None, count=len(rows), key_id=current)
            done += len(rows)
            if len(rows) < batch:
                break
        self.after_biometric_delete()
        logger.info("re-encrypted %s templates under key %s", done, current)
        for holder in self.holders:
            logger.info("re-encrypted %s item(s) of %s under key %s", holder.reencrypt(self.cipher),
                        type(holder).__name__, current)
        return done

    def key_ids_in_use(self) -> set[str]:
        """Key ids of the stored templates and of every holder's ciphertexts."""
        with Session(self.engine) as s:
            used = set(s.scalars(select(FaceTemplate.key_id).distinct()))
        for holder in self.holders:
            used |= holder.key_ids_in_use()
        return used


def template_owner(row: FaceTemplate) -> tuple[str, str]:
    """``(owner kind, owner id)`` of a template row."""
    for kind in ("resident", "visitor", "watchlist"):
        owner_id = getattr(row, f"{kind}_id")
        if owner_id:
            return kind, owner_id
    raise RuntimeError(f"template {row.id} has no owner")


def _single_face(
    analyzer: FaceAnalyzerLike, crop: bytes
) -> tuple[npt.NDArray[np.float32], float | None] | None:
    image = decode_photo(crop)
    faces = [] if image is None else analyzer.analyze([image])[0]
    if len(faces) != 1 or faces[0].embedding is None:
        return None
    return faces[0].embedding, faces[0].quality


def _check_owner(session: Session, owner: Owner) -> None:
    table = {"resident": Resident, "visitor": Visitor, "watchlist": WatchlistEntry}.get(owner.kind)
    if table is None:
        raise RegistryError(f"unknown owner kind {owner.kind!r}")
    if session.get(table, owner.id) is None:
        raise RegistryError(f"no {owner.kind} {owner.id}")
