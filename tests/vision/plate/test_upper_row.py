"""A two-row reading's unsure province is read again from its upper row alone."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from vision.plate.grammar import PROVINCES
from vision.plate.pipeline import UPPER_VIEWS, PlatePipeline, voted
from vision.types import F32, Image, PlateReading

QUAD = np.array([[20, 10], [220, 10], [220, 110], [20, 110]], np.float32)  # a 2:1 two-row plate


class Provinces:
    """A province reader that sees ``province`` (share ``p``, shown ``seen``) in every crop."""

    def __init__(self, province: str, p: float, seen: float) -> None:
        self.province, self.p, self.seen = province, p, seen
        self.crops: list[Image] = []

    def province_read(self, crops: Sequence[Image]) -> tuple[F32, F32]:
        self.crops += list(crops)
        probs = np.full((len(crops), len(PROVINCES)), (1 - self.p) / (len(PROVINCES) - 1), np.float32)
        probs[:, PROVINCES.index(self.province)] = self.p
        return probs, np.full(len(crops), self.seen, np.float32)


def two_row(text: str, first: float, evidence: float) -> PlateReading:
    scores = np.full(len(text), 0.99, np.float32)
    scores[0] = first
    seen = np.ones(len(text), np.float32)
    seen[0] = evidence
    return PlateReading(text=text, raw=text, score=float(scores.mean()), char_scores=scores, valid=True,
                        kind="standard", evidence=seen, rows=2)


def pipeline(provinces: Provinces) -> PlatePipeline:  # type: ignore[type-arg]
    return PlatePipeline(object(), object(), provinces, accept_score=0.5)  # type: ignore[arg-type]


def test_an_unsure_upper_row_province_is_replaced_by_the_one_its_upper_row_shows() -> None:
    provinces = Provinces("赣", 0.9, 0.8)
    image = np.full((120, 240, 3), 200, np.uint8)
    out = pipeline(provinces)._upper_provinces([image], [two_row("贵C30042", 0.3, 0.006)], {0: QUAD}, 0.01)
    assert out[0].text == "赣C30042"
    assert out[0].evidence is not None and float(out[0].evidence[0]) > 0.5
    assert len(provinces.crops) == len(UPPER_VIEWS)
    # The crops hold the upper row only: wider than tall, from the plate's top third.
    assert all(c.shape[1] > c.shape[0] for c in provinces.crops)


def test_a_sure_province_or_a_reading_without_an_upper_row_is_not_read_again() -> None:
    provinces = Provinces("赣", 0.9, 0.8)
    image = np.full((120, 240, 3), 200, np.uint8)
    sure = two_row("贵C30042", 0.99, 0.99)
    out = pipeline(provinces)._upper_provinces([image, image], [sure, two_row("贵C30042", 0.3, 0.0)],
                                               {0: QUAD}, 0.01)
    assert [r.text for r in out] == ["贵C30042", "贵C30042"]
    assert provinces.crops == []


def test_a_province_the_upper_row_does_not_show_gets_no_evidence() -> None:
    provinces = Provinces("赣", 0.9, 0.0)  # the crops show no province character at all
    image = np.full((120, 240, 3), 200, np.uint8)
    out = pipeline(provinces)._upper_provinces([image], [two_row("贵C30042", 0.3, 0.0)], {0: QUAD}, 0.01)
    assert out[0].evidence is not None and float(out[0].evidence[0]) == 0.0


def ballot(text: str, scores: list[float], evidence: list[float] | None = None) -> PlateReading:
    char_scores = np.asarray(scores, np.float32)
    seen = np.ones(len(text), np.float32) if evidence is None else np.asarray(evidence, np.float32)
    return PlateReading(text=text, raw=text, score=float(char_scores.mean()), char_scores=char_scores,
                        valid=True, kind="standard", evidence=seen, rows=2)


def test_crops_of_one_two_row_plate_vote_each_character() -> None:
    sure = [0.99] * 7
    one_wrong = ballot("青C6961P", [0.99, 0.96, 1.0, 1.0, 1.0, 0.93, 1.0])  # the best-scored crop
    right = ballot("青C696TP", [0.93, 0.74, 1.0, 1.0, 1.0, 1.0, 1.0])
    out = voted(one_wrong, [one_wrong, right, ballot("青C696TP", sure)])
    assert out.text == "青C696TP"
    assert out.evidence is not None and float(out.evidence.min()) == 1.0
    assert voted(one_wrong, [one_wrong]).text == "青C6961P"  # one crop: nothing to vote


def test_a_character_the_grammar_put_unseen_does_not_outvote_a_seen_one() -> None:
    seen = ballot("赣C30042", [0.6, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99])
    unseen = [ballot("新C30042", [0.9] * 7, [0.0] + [1.0] * 6) for _ in range(3)]
    assert voted(seen, [seen, *unseen]).text == "赣C30042"


def test_a_vote_that_is_no_valid_plate_keeps_the_reading() -> None:
    reading = ballot("京A12345", [0.99] * 7)
    other = ballot("京112345", [0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])  # (invalid: a digit as the letter)
    assert voted(reading, [reading, other, dataclasses.replace(other)]).text == "京A12345"


def test_weaker_reads_of_a_rival_do_not_overrule_a_sure_character() -> None:
    sure_u = ballot("蒙X0U10挂", [1.0, 0.99, 0.75, 0.98, 1.0, 1.0, 0.99])
    zeros = [ballot("蒙X0010挂", [0.63, 0.38, 1.0, 0.93, 1.0, 1.0, 0.99]),
             ballot("蒙X0010挂", [1.0, 1.0, 0.99, 0.56, 1.0, 1.0, 0.99])]
    assert voted(sure_u, [sure_u, *zeros]).text == "蒙X0U10挂"
