"""Password hashes: PBKDF2-HMAC-SHA256 from the standard library, checked in constant time.

A hash is stored as ``pbkdf2_sha256$<iterations>$<salt b64>$<digest b64>`` so that raising the
iteration count later leaves older hashes verifiable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ALGORITHM = "pbkdf2_sha256"
ITERATIONS = 600_000
"""OWASP's 2023 figure for PBKDF2-HMAC-SHA256."""

_DUMMY = "$".join([ALGORITHM, str(ITERATIONS), base64.b64encode(bytes(16)).decode(),
                   base64.b64encode(bytes(32)).decode()])
"""Checked against when the user does not exist, so that costs the same time."""


def hash_password(password: str, iterations: int = ITERATIONS) -> str:
    """A salted hash of ``password`` to store instead of it."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"{ALGORITHM}${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored``; ``None`` (no such user) costs the same time and is False."""
    algorithm, iterations, salt, digest = (stored or _DUMMY).split("$")
    if algorithm != ALGORITHM:
        raise ValueError(f"unknown password hash algorithm {algorithm!r}")
    offered = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    return hmac.compare_digest(offered, base64.b64decode(digest)) and stored is not None
