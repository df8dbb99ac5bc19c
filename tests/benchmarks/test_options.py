"""Benchmark options: a bad value is a one-line usage error naming what is allowed, never a traceback."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from benchmarks.options import choice, choice_list, int_list
from estatewatch.cli import app


@pytest.mark.parametrize(
    ("value", "expected", "expected_error"),
    [
        ("4,8", [4, 8], None),
        (" 4, 8 ,", [4, 8], None),
        ("", None, "at least one value"),
        ("4,x", None, r"'x' is not a whole number >= 1"),
        ("0", None, r"'0' is not a whole number >= 1"),
        ("2.5", None, r"'2.5' is not a whole number"),
    ],
)
def test_int_list(value: str, expected: list[int] | None, expected_error: str | None) -> None:
    if expected_error:
        with pytest.raises(typer.BadParameter, match=expected_error):
            int_list(value, "--cameras")
    else:
        assert int_list(value, "--cameras") == expected


def test_choices_name_what_is_allowed() -> None:
    assert choice_list("exact,faiss-ivf", "--backends", ("exact", "faiss-ivf")) == ["exact", "faiss-ivf"]
    with pytest.raises(typer.BadParameter, match="'ivf' is not one of: exact, faiss-ivf"):
        choice_list("exact,ivf", "--backends", ("exact", "faiss-ivf"))
    with pytest.raises(typer.BadParameter, match="'two' is not one of: service, one"):
        choice("two", "--batching", ("service", "one"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "--backends", "ivf"], "is not one of: exact, faiss-ivf, faiss-ivf-fp16"),
        (["search", "--sizes", "1e6"], "'1e6' is not a whole number"),
        (["pipeline", "--cameras", "8,x"], "'x' is not a whole number"),
        (["pipeline", "--batching", "two"], "'two' is not one of: service, one"),
        (["delivery", "--relays", "0"], "'0' is not a whole number >= 1"),
        (["models", "--only", "nope"], "'nope' is not one of: "),
    ],
)
def test_bad_bench_options_are_usage_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["bench", *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.replace("│", " ").split()), result.output  # rich's box
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
