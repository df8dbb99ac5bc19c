"""Parsing of the benchmarks' comma-separated options: a bad value is a one-line usage error.

Typer reports a :class:`typer.BadParameter` as ``Invalid value for '--backends': ...`` with the
command's usage and exit code 2, never a traceback; each message names what is allowed.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Sequence
from typing import Any

import typer

from benchmarks.machine import results_dir, results_in


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


def with_quick(command: Callable[..., None], **quick_defaults: Any) -> Callable[..., None]:
    """``command`` with a ``--quick`` flag: a run under two minutes, to check a set-up.

    ``--quick`` replaces the defaults named in ``quick_defaults`` (options given on the command line
    still win) and writes the results under ``benchmarks/results/quick/`` so recorded figures stay.
    """
    signature = inspect.signature(command)
    defaults = {name: getattr(p.default, "default", p.default) for name, p in signature.parameters.items()}
    unknown = set(quick_defaults) - set(defaults)
    if unknown:
        raise TypeError(f"{command.__name__} has no option {sorted(unknown)}")

    @functools.wraps(command)
    def wrapper(*args: Any, quick: bool = False, **kwargs: Any) -> None:
        if not quick:
            command(*args, **kwargs)
            return
        for name, value in quick_defaults.items():
            if kwargs.get(name) == defaults[name]:
                kwargs[name] = value
        with results_in(results_dir() / "quick") as folder:
            typer.echo(f"quick run ({', '.join(f'{k}={v}' for k, v in quick_defaults.items())}); "
                       f"results go to {folder}")
            started = time.monotonic()
            command(*args, **kwargs)
            typer.echo(f"quick run finished in {time.monotonic() - started:.0f} s")

    option = typer.Option(False, "--quick", help="A run under two minutes to check a set-up (smaller "
                          "defaults; results under benchmarks/results/quick/).")
    params = [*signature.parameters.values(),
              inspect.Parameter("quick", inspect.Parameter.KEYWORD_ONLY, default=option, annotation=bool)]
    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**command.__annotations__, "quick": bool}
    return wrapper
