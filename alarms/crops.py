"""Alarm face crops at rest: JPEG bytes sealed with the registry's keyring (pure helpers).

Face crops are biometric data: the alarm store keeps them only as AES-256-GCM ciphertexts
(:class:`registry.crypto.TemplateCipher`, the keys that encrypt face templates), bound to their
alarm by the associated data, and removes them when the registry deletes the alarm's subject.
Whole-scene snapshots stay plain JPEG files.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from alarms.snapshots import encode_jpeg
from registry.crypto import TemplateCipher

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
