"""Pure plate matching: exact on the normalised text, then OCR-confusion-aware near matches.

Recognisers confuse 0/D/Q (and O), 8/B, 1/I, 2/Z and 5/S. Two plates that differ only by such
substitutions are a *near* match, reported with a lower confidence and the positions that
differ, never as equal.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from vision.plate.grammar import normalise as grammar_normalise

PlateStatus = Literal["exact", "near", "unknown"]

CONFUSION_GROUPS: tuple[str, ...] = ("0DQO", "8B", "1I", "2Z", "5S")
"""Characters a recogniser mixes up; each group folds to its first character."""

_FOLD = {ch: group[0] for group in CONFUSION_GROUPS for ch in group}

NEAR_PENALTY = 0.15
"""Confidence lost per confused character (exact = 1.0)."""

MIN_NEAR_CONFIDENCE = 0.4


def normalise_plate(text: str) -> str:
    """Normalised plate text (full-width folded, uppercased, separators dropped)."""
    return grammar_normalise(text)


def confusion_key(plate: str) -> str:
    """The plate with every confusable character folded to its group's representative."""
    return "".join(_FOLD.get(ch, ch) for ch in plate)


@dataclass(frozen=True, slots=True)
class PlateOwner:
    """Who a registered plate belongs to: a vehicle (of a resident or visitor) or a watchlist entry.

    ``label`` is the owner's name (or the watchlist label), ``severity`` is set for watchlist
    entries and ``valid_until`` for visitors' vehicles.
    """

    plate: str
    kind: Literal["vehicle", "watchlist"]
    entry_id: str
    owner_kind: str | None = None
    owner_id: str | None = None
    label: str | None = None
    severity: str | None = None
    valid_until: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class PlateMatch:
    """Result of :func:`match_plate`.

    Attributes:
        query: the normalised query text.
        status: ``exact``, ``near`` (confusion-aware) or ``unknown``.
        plate: the registered plate matched (``None`` when unknown).
        confidence: 1.0 for exact, lower for near matches, 0.0 for unknown.
        owners: every registration of ``plate`` (a vehicle and/or a watchlist entry).
        confused_positions: indices where query and plate differ (near matches only).
        alternatives: other registered plates equally near (ambiguity, lowers confidence).
    """

    query: str
    status: PlateStatus
    plate: str | None = None
    confidence: float = 0.0
    owners: tuple[PlateOwner, ...] = ()
    confused_positions: tuple[int, ...] = ()
    alternatives: tuple[str, ...] = ()


@dataclass(slots=True)
class PlateBook:
    """Registered plates indexed for exact and confusion-aware lookup."""

    exact: dict[str, list[PlateOwner]] = field(default_factory=dict)
    by_key: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, owners: Iterable[PlateOwner]) -> PlateBook:
        exact: dict[str, list[PlateOwner]] = defaultdict(list)
        by_key: dict[str, set[str]] = defaultdict(set)
        for owner in owners:
            exact[owner.plate].append(owner)
            by_key[confusion_key(owner.plate)].add(owner.plate)
        return cls(dict(exact), dict(by_key))


def match_plate(text: str, book: PlateBook) -> PlateMatch:
    """Match recognised plate text against the registered plates."""
    query = normalise_plate(text)
    if not query:
        return PlateMatch(query, "unknown")
    if query in book.exact:
        return PlateMatch(query, "exact", query, 1.0, tuple(book.exact[query]))
    near = sorted(book.by_key.get(confusion_key(query), ()), key=lambda p: (_diff_count(query, p), p))
    if not near:
        return PlateMatch(query, "unknown")
    best = near[0]
    diffs = tuple(i for i, (a, b) in enumerate(zip(query, best, strict=True)) if a != b)
    ties = tuple(p for p in near[1:] if _diff_count(query, p) == len(diffs))
    confidence = near_confidence(len(diffs), ambiguous=bool(ties))
    return PlateMatch(query, "near", best, confidence, tuple(book.exact[best]), diffs, ties)


def near_confidence(confused: int, *, ambiguous: bool) -> float:
    """Confidence of a near match with ``confused`` substituted characters (always < 1)."""
    if confused < 1:
        raise ValueError("a near match differs in at least one character")
    value = max(MIN_NEAR_CONFIDENCE, 1.0 - NEAR_PENALTY * confused)
    return round(value / 2 if ambiguous else value, 4)


def _diff_count(a: str, b: str) -> int:
    return sum(x != y for x, y in zip(a, b, strict=True))
