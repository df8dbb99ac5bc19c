"""CTC decoding of one recogniser output (pure numpy): greedy, and constrained to a template.

Probabilities are a ``(T, C)`` float32 matrix per crop (softmax over classes per frame),
class 0 being the CTC blank.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vision.types import F32

_NEG = -1e9


@dataclass(frozen=True, slots=True)
class CtcChar:
    """One decoded character: its class index, confidence and frames ``[start, end)``."""

    index: int
    score: float
    start: int
    end: int


def greedy(probs: F32) -> list[CtcChar]:
    """Greedy CTC decode: argmax per frame, collapse repeats, drop blanks.

    A character's score is its highest probability over the frames it was emitted in.
    """
    best = probs.argmax(axis=1)
    chars: list[CtcChar] = []
    t = 0
    while t < best.shape[0]:
        cls = int(best[t])
        end = t + 1
        while end < best.shape[0] and best[end] == cls:
            end += 1
        if cls != 0:
            chars.append(CtcChar(cls, float(probs[t:end, cls].max()), t, end))
        t = end
    return chars


@dataclass(frozen=True, slots=True)
class Constrained:
    """The best CTC path whose text follows a template; ``log_prob`` is the path's log-likelihood."""

    chars: list[CtcChar]
    log_prob: float


def constrained(probs: F32, template: Sequence[npt.NDArray[np.intp]],
                blank_like: npt.NDArray[np.intp]) -> Constrained:
    """Viterbi best path emitting exactly one class from ``template[p]`` at each position p.

    Args:
        probs: ``(T, C)`` float32 per-frame probabilities.
        template: per position, the class indices allowed there.
        blank_like: classes read as "no character" between positions (blank, separators);
            their probabilities are summed into the blank.

    Returns:
        The characters (one per position) with their frames and scores; ``log_prob`` is
        ``-inf`` when the template needs more positions than there are frames.
    """
    frames, length = probs.shape[0], len(template)
    logp = np.log(np.maximum(probs, 1e-12))
    blank = np.log(np.maximum(probs[:, blank_like].sum(axis=1), 1e-12))
    best_cls = np.stack([ids[probs[:, ids].argmax(axis=1)] for ids in template], axis=1)  # (T, L)
    emit = np.take_along_axis(logp, best_cls, axis=1)  # (T, L)
    states = 2 * length + 1
    score = np.full(states, _NEG)
    score[0], score[1] = blank[0], emit[0, 0]
    back = np.zeros((frames, states), np.intp)
    is_char = np.arange(states) % 2 == 1
    pos = np.arange(states) // 2
    for t in range(1, frames):
        stay = score
        step = np.concatenate([[_NEG], score[:-1]])
        skip = np.concatenate([[_NEG, _NEG], score[:-2]])
        # CTC: a character may follow the previous one without a blank only if they differ.
        prev_cls = best_cls[t - 1, np.maximum(pos - 1, 0)]
        skip_ok = is_char & (pos > 0) & (prev_cls != best_cls[t, np.minimum(pos, length - 1)])
        skip = np.where(skip_ok, skip, _NEG)
        cand = np.stack([stay, step, skip])
        arg = cand.argmax(axis=0)
        back[t] = arg
        emission = np.where(is_char, emit[t, np.minimum(pos, length - 1)], blank[t])
        score = cand[arg, np.arange(states)] + emission
    end = states - 1 if score[states - 1] >= score[states - 2] else states - 2
    total = float(score[end])
    if total <= _NEG / 2:
        return Constrained([], float("-inf"))
    path = np.zeros(frames, np.intp)
    path[-1] = end
    for t in range(frames - 1, 0, -1):
        path[t - 1] = path[t] - back[t, path[t]]
    chars = []
    for p, ids in enumerate(template):
        ts = np.nonzero(path == 2 * p + 1)[0]
        sub = probs[ts][:, ids]
        cls = int(ids[sub.sum(axis=0).argmax()])
        chars.append(CtcChar(cls, float(probs[ts, cls].max()), int(ts[0]), int(ts[-1]) + 1))
    return Constrained(chars, total)


def evidence(probs: F32, chars: Sequence[CtcChar], alike: Mapping[int, npt.NDArray[np.intp]],
             slack: int = 1) -> F32:
    """How strongly the image shows each decoded character: ``(len(chars),)`` float32.

    A character's evidence is the highest probability of its class (or of a class read as the
    same plate character, ``alike[index]``: lower case, full width, O for 0, I for 1) in the
    frames it was decoded from, widened by ``slack`` frames each way. A greedy character's
    evidence is at least its score; a character the grammar supplied where the recogniser saw
    something else has evidence near 0.
    """
    out = np.zeros(len(chars), np.float32)
    frames = probs.shape[0]
    for k, c in enumerate(chars):
        cols = alike.get(c.index)
        if cols is None:
            cols = np.asarray([c.index], np.intp)
        lo, hi = max(0, c.start - slack), min(frames, c.end + slack)
        out[k] = float(probs[lo:hi][:, cols].max()) if hi > lo else 0.0
    return out


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]
