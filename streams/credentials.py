"""Keep camera credentials out of logs, errors and API output."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, urlsplit, urlunsplit

MASK = "***"

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:@/\s]*):(?P<pw>[^/\s]*)@")


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (user name and host kept).

    Works on any text that contains URLs, so it can also clean error messages.
    """
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", url)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with URL passwords masked and every non-empty secret replaced by ``***``."""
    cleaned = mask_url(text)
    for secret in secrets:
        if secret:
            cleaned = cleaned.replace(secret, MASK)
            quoted = quote(secret, safe="")
            if quoted != secret:
                cleaned = cleaned.replace(quoted, MASK)
    return cleaned


def with_credentials(url: str, username: str | None, password: str | None) -> str:
    """``url`` with ``username``/``password`` inserted, unless it already carries user info."""
    parts = urlsplit(url)
    if username is None or "@" in parts.netloc or not parts.scheme:
        return url
    userinfo = quote(username, safe="")
    if password is not None:
        userinfo += ":" + quote(password, safe="")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))


def url_secrets(url: str) -> list[str]:
    """The password carried in ``url``'s user info (empty list if none)."""
    match = _USERINFO.search(url)
    return [match["pw"]] if match and match["pw"] else []
