from __future__ import annotations

import pytest

from vision.plate.grammar import PROVINCES, TEMPLATES, normalise, parse_plate


@pytest.mark.parametrize(
    ("text", "expected", "kind", "expected_error"),
    [
        ("京A12345", "京A12345", "standard", ""),
        ("京A·12345", "京A12345", "standard", ""),
        ("粤B-8X6K2", "粤B8X6K2", "standard", ""),
        ("沪 a 1234 5", "沪A12345", "standard", ""),
        ("京ＡＢ１２３４", "京AB1234", "standard", ""),  # full-width folded
        ("苏E1234学", "苏E1234学", "standard", ""),
        ("京A0006警", "京A0006警", "standard", ""),
        ("粤Z1234港", "粤Z1234港", "standard", ""),
        ("鲁B1234挂", "鲁B1234挂", "standard", ""),
        ("粤BD12345", "粤BD12345", "new_energy", ""),
        ("沪AFK1234", "沪AFK1234", "new_energy", ""),
        ("沪AF1K234", "沪AF1K234", None, "not a new-energy pattern"),
        ("京A12345D", "京A12345D", "new_energy", ""),
        ("川A•A12345", "川AA12345", "new_energy", ""),  # 2021 extension: A-K at position 3
        ("HELLO", "HELLO", None, "not a province"),
        ("停车场", "停车场", None, "not a province"),
        ("", "", None, "empty"),
        ("京A1234", "京A1234", None, "length 6"),
        ("京A123456", "京A123456", None, "not a new-energy pattern"),
        ("京I12345", "京I12345", None, "second character 'I'"),
        ("京A1O345", "京A1O345", None, "character 'O' is not allowed"),
        ("京A12学45", "京A12学45", None, "may only be last"),
        ("京AD1234学", "京AD1234学", None, "not a new-energy pattern"),
        ("京AZ12345", "京AZ12345", None, "not a new-energy pattern"),
        ("京A12345Z", "京A12345Z", None, "not a new-energy pattern"),
        ("京1A2345", "京1A2345", None, "second character '1'"),
    ],
)
def test_parse_plate(text: str, expected: str, kind: str | None, expected_error: str) -> None:
    parsed = parse_plate(text)
    assert parsed.text == expected
    assert parsed.kind == kind
    assert parsed.valid is (kind is not None)
    if expected_error:
        assert expected_error in parsed.reason
    else:
        assert parsed.reason == ""


def test_normalise_strips_separators_and_folds_width() -> None:
    assert normalise("ｊｉｎ·A－1 2\u30003") == "JINA123"


def test_province_list_is_the_31_abbreviations() -> None:
    assert len(PROVINCES) == len(set(PROVINCES)) == 31


def test_templates_only_spell_valid_plates() -> None:
    for template in TEMPLATES.values():
        first = "".join(allowed[0] for allowed in template)
        last = "".join(allowed[-1] for allowed in template)
        assert parse_plate(first).valid, first
        assert parse_plate(last).valid, last
