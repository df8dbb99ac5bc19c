"""Parsing of the benchmarks' comma-separated options: a bad value is a one-line usage error.

Typer reports a :class:`typer.BadParameter` as ``Invalid value for '--backends': ...`` with the
command's usage and exit code 2, never a traceback; each message names what is allowed.
"""

from __future__ import annotations

from collections.abc import Sequence

import typer


def _items(value: str, option: str) -> list[str]:
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise typer.BadParameter("give at least one value (comma-separated)", param_hint=option)
    return items


def int_list(value: str, option: str, *, minimum: int = 1) -> list[int]:
    """``"4,8"`` -> ``[4, 8]``; each a whole number of at least ``minimum``."""
    out = []
    for item in _items(value, option):
        try:
            number = int(item)
        except ValueError:
            number = minimum - 1
        if number < minimum:
            raise typer.BadParameter(f"{item!r} is not a whole number >= {minimum} (e.g. '4,8')",
                                     param_hint=option)
        out.append(number)
    return out


def choice_list(value: str, option: str, allowed: Sequence[str]) -> list[str]:
    """Comma-separated names, each one of ``allowed``."""
    items = _items(value, option)
    for item in items:
        choice(item, option, allowed)
    return items


def choice(value: str, option: str, allowed: Sequence[str]) -> str:
    """One of ``allowed``."""
    if value not in allowed:
        raise typer.BadParameter(f"{value!r} is not one of: {', '.join(allowed)}", param_hint=option)
    return value
