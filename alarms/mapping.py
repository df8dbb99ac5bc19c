"""A small, safe body template for connectors: JSON whose string leaves hold ``{path}`` placeholders.

No code runs: a placeholder is a dotted path looked up in a dict, nothing else. Roots:

- ``event``: ``id``, ``type``, ``timestamp`` (ISO 8601);
- ``alarm`` / ``data``: the event's data (the alarm's fields for ``alarm.*`` events).

A leaf that is exactly one placeholder keeps the value's JSON type (number, null, object); inside
longer text the value is formatted (``null`` as empty text). ``{{`` and ``}}`` are literal braces.
A path that the event does not have renders as ``null``.
"""

from __future__ import annotations

import json
import re
from typing import Any

ROOTS = ("event", "alarm", "data")
MAX_DEPTH = 16
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")


class TemplateError(ValueError):
    """A body template is malformed (bad placeholder, unknown root, too deep)."""


def _placeholders(text: str) -> list[str]:
    paths: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        if match.group(1) is None:
            raise TemplateError(f"unbalanced brace in {text!r} (write '{{{{' or '}}}}' for a literal)")
        path = match.group(1).strip()
        if not _PATH.match(path):
            raise TemplateError(f"bad placeholder {{{path}}} in {text!r}")
        if path.split(".", 1)[0] not in ROOTS:
            raise TemplateError(f"placeholder {{{path}}} must start with one of {', '.join(ROOTS)}")
        paths.append(path)
    return paths


def check_template(template: Any, depth: int = 0) -> None:
    """Raise :class:`TemplateError` if ``template`` is not a valid body template (pure)."""
    if depth > MAX_DEPTH:
        raise TemplateError(f"template nested deeper than {MAX_DEPTH}")
    if isinstance(template, str):
        _placeholders(template)
    elif isinstance(template, dict):
        for key, value in template.items():
            if not isinstance(key, str):
                raise TemplateError(f"object keys must be text, got {key!r}")
            check_template(value, depth + 1)
    elif isinstance(template, list):
        for value in template:
            check_template(value, depth + 1)
    elif template is not None and not isinstance(template, bool | int | float):
        raise TemplateError(f"unsupported template value {template!r}")


def lookup(context: dict[str, Any], path: str) -> Any:
    """The value at dotted ``path`` in ``context``, ``None`` where it is missing."""
    value: Any = context
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _render_text(text: str, context: dict[str, Any]) -> Any:
    whole = _TOKEN.fullmatch(text)
    if whole is not None and whole.group(1) is not None:
        return lookup(context, whole.group(1).strip())

    def sub(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return _format(lookup(context, match.group(1).strip()))

    return _TOKEN.sub(sub, text)


def render(template: Any, context: dict[str, Any]) -> Any:
    """Render ``template`` against ``context`` (``{"event": ..., "alarm": ..., "data": ...}``), pure."""
    if isinstance(template, str):
        return _render_text(template, context)
    if isinstance(template, dict):
        return {key: render(value, context) for key, value in template.items()}
    if isinstance(template, list):
        return [render(value, context) for value in template]
    return template


def event_context(event_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The render context of an outbox payload ``{type, timestamp, data}``."""
    data = payload.get("data") or {}
    return {
        "event": {"id": event_id, "type": payload.get("type"), "timestamp": payload.get("timestamp")},
        "alarm": data if str(payload.get("type", "")).startswith("alarm.") else {},
        "data": data,
    }
