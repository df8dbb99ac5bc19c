"""Chinese licence plate grammar (pure: no I/O, no models).

What is accepted (GA 36-2018 civilian plates, single row):

* ``standard`` (7 characters): province abbreviation + issuing-authority letter (A-Z without I, O)
  + 5 characters from A-Z (without I, O) and 0-9, e.g. ``京A12345``, ``粤B8X6K2``. The last
  character may instead be one of the special suffixes 学 (driving school), 警 (police),
  港/澳 (Hong Kong/Macau cross-border) or 挂 (trailer), e.g. ``苏E1234学``, ``京A0006警``.
* ``new_energy`` (8 characters): province + letter + 6 characters, either
  small vehicles: an energy letter at position 3 (D/F in the 2018 rules; A-K without I since the
  2021 extension: A-E/D pure electric, F-K/F hybrid), then a letter or digit, then 4 digits
  (``粤BD12345``, ``沪AF1K234``); or
  large vehicles: 5 digits then D or F at the last position (``京A12345D``).

Not accepted: two-row plates, embassy/consulate (使/领), military, Wu Jing (WJ) and
temporary plates, and the 民航 prefix.

Normalisation folds full-width characters to half-width, uppercases, and drops the separators
``·``, ``•``, ``.``, ``-``, ``_`` and whitespace (recognisers often emit the plate's dot).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
"""The 31 province-level abbreviations that open a civilian plate."""

LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
"""Latin letters allowed on plates (I and O are never issued: they look like 1 and 0)."""

DIGITS = "0123456789"
ALNUM = LETTERS + DIGITS
SUFFIXES = "学警港澳挂"
"""Special last characters accepted on 7-character plates."""

NEW_ENERGY_SMALL = "ABCDEFGHJK"
"""Energy letters at position 3 of a small new-energy plate (D/F, extended A-K without I)."""

NEW_ENERGY_LARGE = "DF"
"""Energy letters at the last position of a large new-energy plate."""

SEPARATORS = frozenset("·•・.-_ \t\r\n\u3000")

Kind = Literal["standard", "new_energy"]

_P = f"[{PROVINCES}]"
_L = f"[{LETTERS}]"
_A = f"[{ALNUM}]"
_STANDARD = re.compile(f"{_P}{_L}{_A}{{5}}")
_STANDARD_SUFFIX = re.compile(f"{_P}{_L}{_A}{{4}}[{SUFFIXES}]")
_NE_SMALL = re.compile(f"{_P}{_L}[{NEW_ENERGY_SMALL}]{_A}[0-9]{{4}}")
_NE_LARGE = re.compile(f"{_P}{_L}[0-9]{{5}}[{NEW_ENERGY_LARGE}]")


@dataclass(frozen=True, slots=True)
class PlateText:
    """The outcome of :func:`parse_plate`.

    Attributes:
        text: the normalised text (whether or not it is valid).
        kind: ``"standard"`` or ``"new_energy"`` when valid, else ``None``.
        valid: whether ``text`` is a well-formed plate.
        reason: why it is invalid (``""`` when valid).
    """

    text: str
    kind: Kind | None
    valid: bool
    reason: str = ""


def normalise_char(char: str) -> str:
    """Normalise one character: ``""`` for a separator, else its half-width uppercase form."""
    code = ord(char)
    if 0xFF01 <= code <= 0xFF5E:  # full-width ASCII block -> ASCII
        char = chr(code - 0xFEE0)
    if char in SEPARATORS:
        return ""
    return char.upper()


def normalise(text: str) -> str:
    """Fold full-width to half-width, uppercase and strip separators (``京A·12345`` -> ``京A12345``)."""
    return "".join(normalise_char(c) for c in text)


Template = Literal["standard", "standard_suffix", "new_energy_small", "new_energy_large"]

TEMPLATES: dict[Template, tuple[str, ...]] = {
    "standard": (PROVINCES, LETTERS, ALNUM, ALNUM, ALNUM, ALNUM, ALNUM),
    "standard_suffix": (PROVINCES, LETTERS, ALNUM, ALNUM, ALNUM, ALNUM, SUFFIXES),
    "new_energy_small": (PROVINCES, LETTERS, NEW_ENERGY_SMALL, ALNUM, DIGITS, DIGITS, DIGITS, DIGITS),
    "new_energy_large": (PROVINCES, LETTERS, DIGITS, DIGITS, DIGITS, DIGITS, DIGITS, NEW_ENERGY_LARGE),
}
"""Every accepted pattern, by name, as the characters allowed at each position (for constrained
decoding)."""


def matches(text: str, template: tuple[str, ...]) -> bool:
    """Whether normalised ``text`` fits one pattern of :data:`TEMPLATES` character by character."""
    return len(text) == len(template) and all(c in allowed for c, allowed in zip(text, template, strict=True))


def _reason(text: str) -> str:
    if not text:
        return "empty"
    if text[0] not in PROVINCES:
        return f"first character {text[0]!r} is not a province abbreviation"
    if len(text) not in (7, 8):
        return f"length {len(text)} (a plate has 7 or 8 characters)"
    if text[1] not in LETTERS:
        return f"second character {text[1]!r} is not a letter (A-Z without I/O)"
    bad = [c for c in text[2:] if c not in ALNUM + SUFFIXES]
    if bad:
        return f"character {bad[0]!r} is not allowed on a plate"
    if len(text) == 7:
        return "suffix 学/警/港/澳/挂 may only be last" if any(c in SUFFIXES for c in text[2:6]) \
            else "not a standard plate"
    return "8 characters but not a new-energy pattern (D/F at position 3 or last)"


def parse_plate(text: str) -> PlateText:
    """Normalise ``text`` and validate it against the plate grammar above."""
    norm = normalise(text)
    if _STANDARD.fullmatch(norm) or _STANDARD_SUFFIX.fullmatch(norm):
        return PlateText(norm, "standard", True)
    if _NE_SMALL.fullmatch(norm) or _NE_LARGE.fullmatch(norm):
        return PlateText(norm, "new_energy", True)
    return PlateText(norm, None, False, _reason(norm))
