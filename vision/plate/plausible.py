"""Whether a reading that follows the plate grammar really is a plate (pure: no models).

The grammar-constrained decoder (:mod:`vision.plate.reader`) finds the most likely valid plate
under the recogniser's probabilities. On Latin lettering of about a plate's length (EAST GATE,
JD EXPRESS, a van's phone number) that is a plate with a province the image does not show, a
letter for a digit, a digit for a letter. So a valid reading is only taken for a plate when:

* **every character was seen**: its evidence (:attr:`vision.types.PlateReading.evidence`, the
  recogniser's highest probability of that very character in the frames it was decoded from,
  or, for the province, from the re-read of the plate's left end) is at least
  :attr:`PlausibleOptions.min_evidence`: the grammar may choose between characters the model
  saw, never add one. The province of a small plate is a blur the recogniser gives little
  probability, so its floor is low; a province character large enough to be plain
  (:attr:`PlausibleOptions.clear_province_px`) needs markedly more;
* **it is shaped like a plate**: the detected quad's width / height is within
  :attr:`PlausibleOptions.aspect` (one row: 440 x 140 mm, 480 x 140 for new energy, seen at an
  angle; two rows: 440 x 220);
* **its background is a plate's**: not a saturated colour that no plate has (red, purple),
  see :func:`vision.plate.colour.foreign_colour`;
* **its length is about what the recogniser saw**: the greedy CTC path (``raw``) holds at most
  :attr:`PlausibleOptions.extra_chars` characters more than the plate (a sign's lettering cut
  to a plate's length).

A reading that fails keeps its text, is marked ``valid=False`` and says why in ``rejected``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from vision.plate.grammar import PROVINCES, SUFFIXES, normalise
from vision.types import F32, PlateReading


@dataclass(frozen=True, slots=True)
class PlausibleOptions:
    """Thresholds of :func:`judge`.

    Measured on the rendered plate and sign sets (see benchmarks/README.md).

    Attributes:
        min_evidence: the least evidence each character after the province needs (on the
            rendered plates, seed 0: the lowest of an exactly read plate was 0.51; on signs the
            letters the grammar put in for digits and back have about 0).
        min_province_evidence: the least evidence the province needs (a small plate's province is
            a blur the recogniser gives little probability: 0.001-0.04 on exact reads that were
            right; a province the grammar put before Latin lettering had at most 0.00025 on the
            signs of seed 0).
        clear_province_px: a province character at least this many pixels high (the plate's
            height times :data:`PROVINCE_HEIGHT_SHARE` of its row count) is no blur: the
            recogniser sees a real one plainly, so it needs :attr:`min_clear_province_evidence`.
            A province the grammar put before lettering that shows none is caught this way where
            the blur floor lets it through (seed 2: 苏 before NO PARKING at 0.001, 26 px; 京
            before a plate's second, shifted detection at 0.001, 31 px).
        min_clear_province_evidence: the least evidence a province of at least
            :attr:`clear_province_px` needs (seed 0, rendered, close-up and two-row sets: exact
            reads of one-row plates at least 38 px high had 0.05 or more; provinces the grammar
            invented before signs' lettering, seeds 0 and 2, 0.001 or less).
        min_overwriting_province_evidence: the least evidence a province needs where the
            recogniser read another character with confidence (:attr:`PlateReading.overwritten`:
            险 of a 危险品 sign became 宁 at 0.0135; a plate's blurred province read as P became
            沪 at 0.06, a 吃 read for 琼 at 0.027).
        max_foreign_cjk: how many Chinese characters that are neither a province nor a suffix
            (学警港澳挂) the greedy path may hold (a misread province is one; 京东快递 is three).
        aspect: allowed width / height of a one-row plate's quad.
        aspect_two_rows: the same for a two-row plate.
        extra_chars: how many more characters than the plate the greedy path may hold.
    """

    min_evidence: float = 0.1
    min_province_evidence: float = 0.0005
    clear_province_px: float = 24.0
    min_clear_province_evidence: float = 0.01
    min_overwriting_province_evidence: float = 0.02
    aspect: tuple[float, float] = (1.5, 7.0)
    max_foreign_cjk: int = 1
    aspect_two_rows: tuple[float, float] = (1.2, 3.2)
    extra_chars: int = 1


PROVINCE_HEIGHT_SHARE = {1: 90 / 140, 2: 60 / 220}
"""Height of the province character as a share of the plate's height, by row count (GA 36:
90 mm of a 140 mm one-row plate; 60 mm of a 220 mm two-row plate's upper row)."""


def province_px(reading: PlateReading, corners: F32 | None) -> float | None:
    """How many pixels high the plate's province character is (``None`` without corners)."""
    from vision.plate.rectify import plate_size

    if corners is None:
        return None
    return plate_size(corners)[1] * PROVINCE_HEIGHT_SHARE.get(reading.rows, PROVINCE_HEIGHT_SHARE[1])


def quad_aspect(corners: F32) -> float:
    """Width / height of a quad TL, TR, BR, BL (mean of opposite edges)."""
    from vision.plate.rectify import plate_size

    width, height = plate_size(corners)
    return width / max(height, 1e-6)


def judge(reading: PlateReading, corners: F32 | None, foreign: str | None,
          options: PlausibleOptions) -> PlateReading:
    """``reading``, marked not a plate (``valid=False``, ``rejected`` = why) if it fails a check.

    Args:
        reading: a reading from the reader (province re-read done).
        corners: the plate quad in image pixels, when known.
        foreign: why the crop's background is no plate's colour
            (:func:`vision.plate.colour.foreign_colour`), or ``None``.
        options: thresholds.
    """
    if not reading.valid:
        return reading
    reason = _reason(reading, corners, foreign, options)
    if not reason:
        return reading
    return dataclasses.replace(reading, valid=False, kind=None, rejected=reason)


def _reason(reading: PlateReading, corners: F32 | None, foreign: str | None,
            options: PlausibleOptions) -> str:
    if reading.evidence is not None and reading.evidence.size == len(reading.text):
        for position, (char, seen) in enumerate(zip(reading.text, reading.evidence, strict=True)):
            if float(seen) < (options.min_evidence if position else options.min_province_evidence):
                return f"character {char!r} at position {position + 1} not seen in the image " \
                       f"(evidence {float(seen):.3f})"
        size = province_px(reading, corners)
        if reading.evidence.size and size is not None and size >= options.clear_province_px \
                and float(reading.evidence[0]) < options.min_clear_province_evidence:
            return f"character {reading.text[0]!r} at position 1 not seen in the image " \
                   f"(evidence {float(reading.evidence[0]):.3f} where a province {size:.0f} px high " \
                   f"would be plain)"
    if reading.overwritten and reading.evidence is not None and reading.evidence.size \
            and float(reading.evidence[0]) < options.min_overwriting_province_evidence:
        return f"province {reading.text[0]!r} stands where {reading.overwritten!r} was read " \
               f"(evidence {float(reading.evidence[0]):.3f})"
    if foreign:
        return foreign
    if corners is not None:
        low, high = options.aspect_two_rows if reading.rows == 2 else options.aspect
        aspect = quad_aspect(corners)
        if not low <= aspect <= high:
            return f"shape {aspect:.2f}:1 is not a plate's ({low:g}-{high:g}:1)"
    foreign_cjk = [c for c in normalise(reading.raw) if not c.isascii() and c not in PROVINCES + SUFFIXES]
    if len(foreign_cjk) > options.max_foreign_cjk:
        return f"Chinese text {''.join(foreign_cjk)!r} read besides the plate"
    seen = len(normalise(reading.raw))
    if seen > len(reading.text) + options.extra_chars:
        return f"{seen} characters read where a plate has {len(reading.text)}"
    return ""
