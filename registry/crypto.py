"""AES-GCM encryption of face templates and face crops at rest, with key ids for rotation.

The alarm store encrypts its face crops with the same keyring (see :mod:`alarms.store`).

A ciphertext is ``nonce (12 bytes) || AES-256-GCM(plaintext) || tag (16 bytes)``; its key id (the
first 16 hex digits of the key's SHA-256) is stored next to it, and the associated data binds it to
its row (template id and model id) so ciphertexts cannot be swapped between rows.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from registry.config import RegistrySettings
from storage.files import write_atomic

logger = logging.getLogger(__name__)

NONCE_BYTES = 12


class TemplateKeyError(Exception):
    """A key is missing, malformed, or does not decrypt a ciphertext."""


def key_id(key: bytes) -> str:
    """A non-secret identifier of a key (16 hex digits of its SHA-256)."""
    return hashlib.sha256(key).hexdigest()[:16]


def decode_key(text: str) -> bytes:
    """Decode a base64 key, which must be exactly 32 bytes."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TemplateKeyError("template key is not valid base64") from exc
    if len(key) != 32:
        raise TemplateKeyError(f"template key must be 32 bytes, got {len(key)}")
    return key


def new_key_text() -> str:
    """A fresh random key, base64."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


class TemplateCipher:
    """Encrypts with the current key; decrypts with any key of the keyring."""

    def __init__(self, current: bytes, retired: Sequence[bytes] = ()) -> None:
        self._current_id = key_id(current)
        self._keys = {key_id(k): AESGCM(k) for k in (*retired, current)}

    @property
    def current_key_id(self) -> str:
        return self._current_id

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def encrypt(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        """Encrypt with the current key: returns ``(key id, nonce || ciphertext)``."""
        nonce = os.urandom(NONCE_BYTES)
        return self._current_id, nonce + self._keys[self._current_id].encrypt(nonce, plaintext, aad)

    def decrypt(self, kid: str, blob: bytes, aad: bytes) -> bytes:
        aead = self._keys.get(kid)
        if aead is None:
            raise TemplateKeyError(f"no key with id {kid} is configured (retired key removed too early?)")
        try:
            return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag as exc:
            raise TemplateKeyError(f"ciphertext does not authenticate under key {kid}") from exc

    def encrypt_embedding(self, embedding: npt.NDArray[np.float32], aad: bytes) -> tuple[str, bytes]:
        """Encrypt a ``(D,)`` float32 embedding (stored little-endian)."""
        return self.encrypt(np.ascontiguousarray(embedding, dtype="<f4").tobytes(), aad)

    def decrypt_embedding(self, kid: str, blob: bytes, aad: bytes) -> npt.NDArray[np.float32]:
        return np.frombuffer(self.decrypt(kid, blob, aad), dtype="<f4").astype(np.float32)

    @classmethod
    def from_settings(cls, settings: RegistrySettings, data_dir: Path | None = None) -> TemplateCipher:
        """Keyring from env, else the key file, else a generated demo key (with a warning).

        ``data_dir`` (default ``ESTATEWATCH_DATA_DIR``) holds the generated demo key file.
        """
        retired = [decode_key(t) for t in _split(settings.template_keys_retired)]
        if settings.template_key is not None:
            return cls(decode_key(settings.template_key.get_secret_value()), retired)
        path = settings.template_key_file or settings.default_key_file(data_dir)
        if not path.exists():
            if settings.template_key_file is not None:
                raise TemplateKeyError(f"template key file {path} does not exist")
            write_key_file(path, [new_key_text()])
            logger.warning(
                "no template key configured: generated one at %s; set ESTATEWATCH_TEMPLATE_KEY or "
                "ESTATEWATCH_TEMPLATE_KEY_FILE for production and back it up",
                path,
            )
        keys = read_key_file(path)
        return cls(keys[0], [*keys[1:], *retired])


def _split(secret: object) -> list[str]:
    if secret is None:
        return []
    value: str = secret.get_secret_value()  # type: ignore[attr-defined]
    return [part for part in value.split(",") if part.strip()]


def read_key_file(path: Path) -> list[bytes]:
    """The keys of a key file (first current); raises if it holds none."""
    lines = [ln for ln in path.read_text(encoding="ascii").splitlines() if ln.strip()]
    if not lines:
        raise TemplateKeyError(f"template key file {path} is empty")
    return [decode_key(line) for line in lines]


def write_key_file(path: Path, keys_text: Sequence[str]) -> None:
    """Atomically write a key file readable by its owner only (0600, folder 0700)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, ("\n".join(keys_text) + "\n").encode("ascii"))
