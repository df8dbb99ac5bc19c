"""Alarm face crops at rest: JPEG bytes sealed with the registry's keyring, redacted with their person.

Face crops are biometric data: the alarm store keeps them only as AES-256-GCM ciphertexts
(:class:`registry.crypto.TemplateCipher`, the keys that encrypt face templates), bound to their
alarm by the associated data, and removes them when the registry deletes the alarm's subject.
Whole-scene snapshots stay plain JPEG files.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, and_, or_, select, update

from alarms.schema import ALARMS
from alarms.snapshots import SnapshotStore, encode_jpeg
from alarms.types import aware_now
from registry.config import RegistrySettings
from registry.crypto import TemplateCipher
from registry.types import Owner
from storage.db import checkpoint

logger = logging.getLogger(__name__)

PERSON_KINDS = ("resident", "visitor", "watchlist")
"""Subject kinds that are registry persons: deleting one redacts the crops of its alarms."""


def crop_aad(alarm_id: str) -> bytes:
    """Associated data binding a crop ciphertext to its alarm (no swapping crops between alarms)."""
    return f"estatewatch/alarm-crop/{alarm_id}".encode()


def seal_crop(cipher: TemplateCipher, alarm_id: str, image: npt.NDArray[np.uint8]) -> tuple[str, bytes]:
    """Encode ``image`` as JPEG and encrypt it under the current key: ``(key id, ciphertext)``."""
    return seal_jpeg(cipher, alarm_id, encode_jpeg(image))


def seal_jpeg(cipher: TemplateCipher, alarm_id: str, jpeg: bytes) -> tuple[str, bytes]:
    """Encrypt JPEG bytes of ``alarm_id``'s crop under the current key: ``(key id, ciphertext)``."""
    return cipher.encrypt(jpeg, crop_aad(alarm_id))


def open_crop(cipher: TemplateCipher, alarm_id: str, kid: str, blob: bytes) -> bytes:
    """The JPEG bytes of a sealed crop (:class:`registry.crypto.TemplateKeyError` if it does not open)."""
    return cipher.decrypt(kid, blob, crop_aad(alarm_id))


class AlarmCrops:
    """The face crops of stored alarms: the registry's biometric holder of alarm data.

    Deleting a person in the registry redacts the crops of that person's alarms, and rotating the
    key re-encrypts them (:class:`registry.templates.BiometricHolder`).

    Args:
        engine: the alarm store's database.
        snapshots: where crops of older versions were plain files.
        cipher: the registry's keyring; ``None``: made from the settings when first needed.
    """

    def __init__(
        self, engine: Engine, snapshots: SnapshotStore, cipher: TemplateCipher | None = None
    ) -> None:
        self.engine, self.snapshots = engine, snapshots
        self._cipher = cipher
        self._cipher_lock = threading.Lock()

    @property
    def cipher(self) -> TemplateCipher:
        """The keyring of face crops (made from the settings when first needed)."""
        with self._cipher_lock:
            if self._cipher is None:
                self._cipher = TemplateCipher.from_settings(RegistrySettings(), self.snapshots.root.parent)
            return self._cipher

    def seal(self, alarm_id: str, image: npt.NDArray[np.uint8]) -> tuple[str, bytes]:
        """``image`` as JPEG encrypted under the current key: ``(key id, ciphertext)``."""
        return seal_crop(self.cipher, alarm_id, image)

    def open(self, alarm_id: str, kid: str, blob: bytes) -> bytes:
        """The JPEG bytes of ``alarm_id``'s sealed crop."""
        return open_crop(self.cipher, alarm_id, kid, blob)

    def forget_owners(self, owners: Sequence[Owner], now: dt.datetime | None = None) -> int:
        """Redact the alarms of deleted registry persons; returns how many alarms changed.

        Each alarm whose subject is one of ``owners`` loses its face crop (ciphertext, and any
        legacy plain file) and is marked redacted; the alarm itself, its snapshot and its events stay.
        """
        now = aware_now(now)
        people = [o for o in owners if o.kind in PERSON_KINDS]
        changed = 0
        for start in range(0, len(people), 200):
            chunk = people[start : start + 200]
            subject = or_(
                *(and_(ALARMS.c.subject_kind == o.kind, ALARMS.c.subject_id == o.id) for o in chunk)
            )
            pending = or_(ALARMS.c.redacted_at.is_(None), ALARMS.c.crop_ct.is_not(None),
                          ALARMS.c.crop_path.is_not(None))
            with self.engine.begin() as conn:
                rows = conn.execute(select(ALARMS.c.id, ALARMS.c.crop_path).where(subject, pending)).all()
                ids = [str(r.id) for r in rows]
                if not ids:
                    continue
                conn.execute(update(ALARMS).where(ALARMS.c.id.in_(ids))
                             .values(crop_ct=None, crop_key_id=None, crop_path=None))
                conn.execute(update(ALARMS).where(ALARMS.c.id.in_(ids), ALARMS.c.redacted_at.is_(None))
                             .values(redacted_at=now))
            for r in rows:
                if r.crop_path:
                    self.snapshots.delete(r.crop_path)
            changed += len(ids)
        checkpoint(self.engine)  # SQLite: no freed crop page survives in the WAL
        if changed:
            logger.info("redacted the crops of %d alarm(s) of %d deleted person(s)", changed, len(people))
        return changed

    def crop_owners(self) -> list[Owner]:
        """The registry persons that stored alarm face crops belong to (distinct)."""
        query = (select(ALARMS.c.subject_kind, ALARMS.c.subject_id).distinct()
                 .where(ALARMS.c.crop_ct.is_not(None), ALARMS.c.subject_kind.in_(PERSON_KINDS)))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [Owner(r.subject_kind, r.subject_id) for r in rows]

    def redact_orphans(self, existing: Callable[[Sequence[Owner]], set[Owner]],
                       now: dt.datetime | None = None) -> int:
        """Redact crops whose person no longer exists in the registry; returns how many alarms changed.

        Closes the gap a deletion leaves: an alarm the live pipeline stores just after its person
        was deleted (identified from the index a moment before) is redacted by the next sweep.
        ``existing`` answers which of the given persons still exist (``Registry.existing_owners``).
        """
        owners = self.crop_owners()
        gone = [o for o in owners if o not in existing(owners)] if owners else []
        return self.forget_owners(gone, now) if gone else 0

    def reencrypt(self, cipher: TemplateCipher, batch: int = 200) -> int:
        """Re-encrypt every crop not under ``cipher``'s current key (key rotation); returns how many."""
        current, done = cipher.current_key_id, 0
        while True:
            with self.engine.begin() as conn:
                rows = conn.execute(
                    select(ALARMS.c.id, ALARMS.c.crop_ct, ALARMS.c.crop_key_id)
                    .where(ALARMS.c.crop_ct.is_not(None), ALARMS.c.crop_key_id != current)
                    .limit(batch)
                ).all()
                for r in rows:
                    jpeg = open_crop(cipher, r.id, r.crop_key_id, bytes(r.crop_ct))
                    kid, blob = seal_jpeg(cipher, r.id, jpeg)
                    conn.execute(
                        update(ALARMS).where(ALARMS.c.id == r.id).values(crop_ct=blob, crop_key_id=kid)
                    )
            done += len(rows)
            if len(rows) < batch:
                break
        checkpoint(self.engine)
        return done

    def key_ids_in_use(self) -> set[str]:
        """Key ids of the stored crop ciphertexts."""
        with self.engine.connect() as conn:
            query = select(ALARMS.c.crop_key_id).where(ALARMS.c.crop_key_id.is_not(None)).distinct()
            return {str(k) for k in conn.execute(query).scalars()}

    def encrypt_legacy_crops(self, batch: int = 100) -> int:
        """Encrypt the plain ``.crop.jpg`` files of older alarms into their rows, then delete the files.

        Runs when the store opens with migrations; a crop file that is gone is dropped with a warning.
        """
        done = 0
        while True:
            with self.engine.begin() as conn:
                rows = conn.execute(
                    select(ALARMS.c.id, ALARMS.c.crop_path)
                    .where(ALARMS.c.crop_path.is_not(None))
                    .limit(batch)
                ).all()
                for r in rows:
                    values: dict[str, Any] = {"crop_path": None}
                    try:
                        jpeg = self.snapshots.path(r.crop_path).read_bytes()
                        kid, blob = seal_jpeg(self.cipher, r.id, jpeg)
                        values.update(crop_ct=blob, crop_key_id=kid)
                    except (OSError, ValueError) as exc:
                        logger.warning("alarm %s: legacy crop %s unreadable, dropped: %s",
                                       r.id, r.crop_path, exc)
                    conn.execute(update(ALARMS).where(ALARMS.c.id == r.id).values(**values))
            for r in rows:
                self.snapshots.delete(r.crop_path)
            done += len(rows)
            if len(rows) < batch:
                break
        if done:
            logger.info("encrypted %d plain alarm crop file(s) from an older version", done)
        return done
