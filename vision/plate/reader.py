"""Plate text reader: the ``ppocr_ctc`` family (PP-OCR CTC recognisers, e.g. PP-OCRv6 small).

Model facts (checked in the tests):

* input ``x``: ``(N, 3, 48, W)`` float32, BGR, ``(x / 255 - 0.5) / 0.5``, dynamic N and W;
* output ``(N, T, C)`` float32 per-frame probabilities (softmax already applied), T = W / 8;
* classes: index 0 is the CTC blank, 1..C-2 the dictionary in the model metadata key
  ``character`` (newline-separated), C-1 a space (PaddleOCR's ``use_space_char``).

Crops are resized to height 48 keeping their aspect ratio and right-padded with zeros (after
normalisation, as PaddleOCR pads) to one fixed width (:attr:`PlateReader.width`), so a
crop's result never depends on the other crops of its batch (the model's global mixing layers
see the padding, so padding to a per-batch width would).

Decoding is greedy CTC (argmax per frame, collapse repeats, drop blanks); a character's
confidence is its best frame's probability. When the greedy text is not a valid plate, the
best CTC path that spells a valid plate (one per pattern of :data:`vision.plate.grammar.TEMPLATES`)
is taken instead, but only if it is at most ``max_corrections`` edits away from the greedy
text (a province character the model left out or misread, an O read for a 0), so that text
which is not a plate (a sign) is never forced into one.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import numpy.typing as npt

from vision.model import UNBATCHED, OnnxModel, register_family
from vision.plate.colour import TEMPLATES_BY_COLOUR, plate_colour
from vision.plate.ctc import CtcChar, constrained, edit_distance, evidence, greedy
from vision.plate.grammar import (
    PROVINCES,
    SEPARATORS,
    TEMPLATES,
    Template,
    matches,
    normalise_char,
    parse_plate,
)
from vision.session import OnnxSession, SessionConfig
from vision.types import F32, Image, PlateColour, PlateReading

logger = logging.getLogger(__name__)


LOOK_ALIKE = {"0": "O", "1": "I"}
"""Plate characters and the letters a reader sees for them (I and O are never on a plate)."""

GLYPH_TWINS = {"」": "J", "丁": "J"}
"""Characters of another script drawn with a plate character's very shape, and that character:
the corner bracket 」 is a J's stroke and hook, 丁 a J with its top bar (a two-row plate's
upper-row J, a thin glyph in a wide box, is read as either)."""


def alike_classes(characters: Sequence[str]) -> dict[int, npt.NDArray[np.intp]]:
    """Class -> every class read as the same plate character (case, width, O/0, I/1, 」/J).

    Only for classes whose normalised form is one character; used to measure the evidence of a
    decoded character (:func:`vision.plate.ctc.evidence`).
    """
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(characters[1:-1], 1):
        norm = normalise_char(c)
        if len(norm) == 1:
            groups.setdefault(GLYPH_TWINS.get(norm, LOOK_ALIKE.get(norm, norm)), []).append(i)
    out: dict[int, npt.NDArray[np.intp]] = {}
    for members in groups.values():
        ids = np.asarray(members, np.intp)
        for i in members:
            out[i] = ids
    return out


def character_table(metadata: dict[str, str]) -> list[str]:
    """Class index -> character: ``["<blank>", *dictionary, " "]`` from the model metadata."""
    if "character" not in metadata:
        raise ValueError("model metadata has no 'character' dictionary")
    return ["<blank>", *metadata["character"].split("\n"), " "]


@register_family
class PlateReader(OnnxModel[Image, list[tuple[PlateColour | None, float]], PlateReading]):
    """Read plate text from rectified crops.

    ``infer(crops)`` takes BGR uint8 ``(h, w, 3)`` crops (any sizes; :func:`vision.plate.rectify.rectify`
    makes them 48 px high) and returns one :class:`PlateReading` per crop (``corners``/``box``
    left ``None``: the caller knows where the crop came from). With :attr:`use_colour`, each
    crop's plate colour (:func:`vision.plate.colour.plate_colour`) is judged and constrains its
    reading (see :meth:`decode`).
    """

    family: ClassVar[str] = "ppocr_ctc"

    def __init__(
        self,
        path: Path,
        config: SessionConfig | None = None,
        *,
        name: str = "ppocrv6_rec",
        height: int = 48,
        width: int = 320,
        max_corrections: int = 2,
        province_width: int = 160,
        use_colour: bool = True,
        max_batch: int = UNBATCHED,
        workers: int = 1,
    ) -> None:
        super().__init__(path, config, name=name, max_batch=max_batch, workers=workers)
        self.height = height
        self.width = width
        self.max_corrections = max_corrections
        self.province_width = province_width
        self.use_colour = use_colour
        self.characters: list[str] = []
        self._templates: dict[Template, list[npt.NDArray[np.intp]]] = {}
        self._blank_like: npt.NDArray[np.intp] = np.zeros(1, np.intp)
        self._provinces: npt.NDArray[np.intp] = np.zeros(0, np.intp)
        self._alike: dict[int, npt.NDArray[np.intp]] = {}
        self._twins: list[tuple[int, int]] = []

    def _opened(self, session: OnnxSession) -> None:
        """Read the dictionary; the model's class count is checked by the warm-up."""
        self.characters = character_table(session.metadata)
        index = {c: i for i, c in enumerate(self.characters) if i}
        self._templates = {
            name: [np.asarray([index[c] for c in allowed if c in index], np.intp) for allowed in template]
            for name, template in TEMPLATES.items()
        }
        self._blank_like = np.asarray(
            [0, *(i for c, i in index.items() if c in SEPARATORS)], np.intp)
        missing = [c for c in PROVINCES if c not in index]
        if missing:
            raise ValueError(f"{self.name}: dictionary lacks the provinces {''.join(missing)}")
        self._provinces = np.asarray([index[c] for c in PROVINCES], np.intp)
        self._alike = alike_classes(self.characters)
        self._twins = [(index[plate], index[twin]) for twin, plate in GLYPH_TWINS.items()
                       if twin in index and plate in index]

    def warmup_input(self) -> F32:
        return np.zeros((1, 3, self.height, self.width), np.float32)

    def forward(self, tensor: F32) -> list[npt.NDArray[Any]]:
        """Run the model: ``[(N, T, C)]`` float32 per-frame class probabilities."""
        out = super().forward(tensor)
        if out[0].shape[-1] != len(self.characters):
            raise ValueError(f"{self.name}: {out[0].shape[-1]} classes but the dictionary gives "
                             f"{len(self.characters)} (blank + {len(self.characters) - 2} + space)")
        return out

    def preprocess(self, batch: Sequence[Image]) -> tuple[F32, list[tuple[PlateColour | None, float]]]:
        """Crops -> ``(N, 3, height, width)`` float32, each crop's colour (when judged) and width.

        The width is in the model's output frames (8 input pixels each), as resized.
        """
        tensor = self.tensor(batch, self.width)
        return tensor, [(plate_colour(crop) if self.use_colour else None, self._frames(crop))
                        for crop in batch]

    def _frames(self, crop: Image) -> float:
        h, w = crop.shape[:2]
        return float(min(self.width, max(1, math.ceil(self.height * w / h)))) / 8.0

    def tensor(self, batch: Sequence[Image], width: int) -> F32:
        """Crops resized to :attr:`height` (aspect kept), normalised, zero-padded to ``width``."""
        canvas = np.zeros((len(batch), self.height, width, 3), np.uint8)
        widths = []
        for i, crop in enumerate(batch):
            if crop.ndim != 3 or crop.shape[2] != 3 or crop.size == 0:
                raise ValueError(f"expected a non-empty (h, w, 3) crop, got {crop.shape}")
            h, w = crop.shape[:2]
            rw = min(width, max(1, math.ceil(self.height * w / h)))
            canvas[i, :, :rw] = cv2.resize(crop, (rw, self.height), interpolation=cv2.INTER_LINEAR)
            widths.append(rw)
        x = canvas.astype(np.float32) / 255.0
        x -= 0.5
        x /= 0.5
        cols = np.arange(width)[None, :] >= np.asarray(widths)[:, None]
        x[cols[:, None, :, None].repeat(self.height, axis=1).repeat(3, axis=3)] = 0.0
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def postprocess(self, outputs: list[npt.NDArray[Any]],
                    ctx: list[tuple[PlateColour | None, float]]) -> list[PlateReading]:
        """Decode each ``(T, C)`` row of the probabilities into a reading (with its crop's colour)."""
        probs = np.asarray(outputs[0], np.float32)
        return [self.decode(row, colour, frames) for row, (colour, frames) in zip(probs, ctx, strict=True)]

    def decode(self, probs: F32, colour: PlateColour | None = None,
               frames: float | None = None) -> PlateReading:
        """One crop's ``(T, C)`` probabilities -> reading (greedy, else grammar-constrained).

        Args:
            probs: ``(T, C)`` per-frame class probabilities.
            colour: the plate's colour (:func:`vision.plate.colour.plate_colour`), when known: a
                greedy reading that is valid but not a plate of that colour (a green plate read
                with 7 characters) is replaced, like an invalid one, by the best reading that
                fits the colour's templates, if that is at most ``max_corrections`` edits away.
            frames: how many frames the crop filled (the rest is padding); each character's
                :attr:`PlateReading.positions` is its frames' centre over this (``None``: all).
        """
        chars = greedy(probs)
        used = chars
        overwritten = ""
        raw = "".join(self.characters[c.index] for c in chars)
        text, scores, seen = self._normalised(probs, chars)
        parsed = parse_plate(text)
        allowed = None if colour is None else TEMPLATES_BY_COLOUR[colour]
        fits = parsed.valid and (allowed is None or any(matches(parsed.text, TEMPLATES[t]) for t in allowed))
        if not fits and self.max_corrections > 0 and text:
            fixed = self._constrained(probs, allowed)
            if fixed is not None and edit_distance(text, fixed[0]) <= self.max_corrections:
                text, scores, seen, path = fixed
                parsed = parse_plate(text)
                overwritten = self._overwritten(chars, path[0])
                used = path
        score_arr = np.asarray(scores, np.float32)
        return PlateReading(
            text=parsed.text,
            raw=raw,
            score=float(score_arr.mean()) if score_arr.size else 0.0,
            char_scores=score_arr,
            valid=parsed.valid,
            kind=parsed.kind,
            colour=colour,
            evidence=np.asarray(seen, np.float32),
            overwritten=overwritten,
            positions=self._positions(used, frames or float(probs.shape[0])),
        )

    def _positions(self, chars: Sequence[CtcChar], frames: float) -> F32:
        """Each character's frames' centre as a share of ``frames`` (one per normalised character)."""
        out = [(c.start + c.end) / 2 / frames for c in chars
               for _ in range(len(normalise_char(self.characters[c.index])))]
        return np.asarray(out, np.float32)

    def _overwritten(self, greedy_chars: Sequence[CtcChar], province: CtcChar) -> str:
        """What the greedy path read confidently (score >= 0.5) where the grammar put the province.

        That is a character overlapping the province's frames, or a first character that is
        Chinese but no province (险 of a 危险品 sign). A separator (the dot of a plate: the
        upper row of a two-row plate reads ``·Y`` where its faint province is) is no character
        the province replaced: the grammar reads separators as blanks.
        """
        out: list[str] = []
        for k, c in enumerate(greedy_chars):
            char = self.characters[c.index]
            if c.score < 0.5 or c.index in self._provinces or char in SEPARATORS:
                continue
            overlaps = c.start < province.end and province.start < c.end
            if overlaps or (k == 0 and not char.isascii()):
                out.append(char)
        return "".join(dict.fromkeys(out))

    def _normalised(self, probs: F32, chars: Sequence[CtcChar]) -> tuple[str, list[float], list[float]]:
        text: list[str] = []
        scores: list[float] = []
        seen: list[float] = []
        for c, e in zip(chars, evidence(probs, chars, self._alike), strict=True):
            norm = normalise_char(self.characters[c.index])
            text.append(norm)
            scores.extend([c.score] * len(norm))
            seen.extend([float(e)] * len(norm))
        return "".join(text), scores, seen

    def _constrained(self, probs: F32, allowed: Sequence[Template] | None = None
                     ) -> tuple[str, list[float], list[float], list[CtcChar]] | None:
        """The most likely valid plate under the probabilities (templates ``allowed``, default all)."""
        templates = self._templates.values() if allowed is None else [self._templates[t] for t in allowed]
        if self._twins:  # a twin's probability counts for its plate character (no template allows it)
            probs = probs.copy()
            for plate, twin in self._twins:
                probs[:, plate] += probs[:, twin]
        best = max((constrained(probs, t, self._blank_like) for t in templates), key=lambda c: c.log_prob)
        if not best.chars:
            return None
        seen = evidence(probs, best.chars, self._alike)
        return ("".join(self.characters[c.index] for c in best.chars), [c.score for c in best.chars],
                [float(e) for e in seen], best.chars)

    def province_probs(self, crops: Sequence[Image]) -> F32:
        """Which province each crop shows: ``(N, len(PROVINCES))`` float32, rows summing to 1.

        The crops (see :mod:`vision.plate.province`) are padded to :attr:`province_width`; a
        province's probability is its share of the province classes' probability mass summed
        over all frames, so that whichever frames the recogniser emits it in count.
        """
        return self.province_read(crops)[0]

    def province_read(self, crops: Sequence[Image]) -> tuple[F32, F32]:
        """:meth:`province_probs` and, per crop, whether a province is there at all.

        Returns:
            ``(probs, seen)``: ``probs`` as :meth:`province_probs`; ``seen`` ``(N,)`` float32,
            the highest probability, over the frames, that the frame shows some province
            character (the province classes' sum): near 0 on a crop of Latin lettering, whose
            shares ``probs`` still sum to 1.
        """
        if not crops:
            return np.zeros((0, len(PROVINCES)), np.float32), np.zeros(0, np.float32)
        probs = np.asarray(self.forward(self.tensor(crops, self.province_width))[0], np.float32)
        per_frame = probs[:, :, self._provinces]
        mass = per_frame.sum(axis=1)
        shares = np.asarray(mass / np.maximum(mass.sum(axis=1, keepdims=True), 1e-12), np.float32)
        return shares, np.asarray(per_frame.sum(axis=2).max(axis=1), np.float32)
