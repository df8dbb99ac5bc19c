"""The bench CLI: a bad option value is one line on stderr with exit code 2; every command has --quick."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from benchmarks.cli import app as bench_app
from benchmarks.machine import results_dir
from benchmarks.options import with_quick
from estatewatch.cli import app, main

BENCH_COMMANDS = sorted(c.name or "" for c in bench_app.registered_commands if c.name != "charts")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "--backends", "ivf"], "'ivf' is not one of: exact, faiss-ivf, faiss-ivf-fp16"),
        (["search", "--sizes", "10k"], "'10k' is not a whole number >= 1"),
        (["pipeline", "--batching", "two"], "'two' is not one of: service, one"),
        (["pipeline", "--seconds", "1"], "greater than or equal to 5"),
        (["pipeline", "--int8", "vehicle_detect,yolo"], "'yolo' is not one of: face_detect, face_embed"),
        (["pipeline", "--levers", "none,fast"], "'fast' is not one of: none, detect_every, undecided, all"),
        (["pipeline", "--replay-only"], "give --replay-seconds too"),
        (["pipeline", "--find-capacity", "--levers", "none,all"], "--find-capacity takes one variant"),
        (["plates", "--only-passes", "--passes-levers", "most"], "'most' is not one of: none, gate,"),
        (["plates", "--sets", "closeup", "--variants", "fp32,int4"], "'int4' is not one of: fp32, int8"),
        (["pipeline", "--find-capacity", "--start", "9", "--max-cameras", "4"], "9 is above --max-cameras 4"),
        (["models", "--only", "yolo"], "'yolo' is not one of: "),
        (["delivery", "--relays", "0"], "'0' is not a whole number >= 1"),
        (["streams", "--streams", "100"], "less than or equal to 32"),
        (["charts", "--results", "/nonexistent/folder"], "/nonexistent/folder is not a folder"),
        (["nope"], "No such command 'nope'"),
    ],
)
def test_a_bad_value_is_one_line_on_stderr(args: list[str], message: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["bench", *args])
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert message in err and err.startswith("estatewatch bench") and "Traceback" not in err


def test_bare_bench_prints_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["bench"])
    assert exit_.value.code == 0
    assert "charts" in capsys.readouterr().out


@pytest.mark.parametrize("command", BENCH_COMMANDS)
def test_every_bench_command_has_quick(command: str) -> None:
    """Every benchmark registered in benchmarks/cli.py (wrapped with ``with_quick``), charts aside."""
    result = CliRunner().invoke(app, ["bench", command, "--help"])
    assert result.exit_code == 0 and "--quick" in result.output


def test_quick_changes_defaults_not_given_options_and_writes_aside() -> None:
    calls: list[tuple[int, str, Path]] = []

    def fake(rounds: int = typer.Option(30), label: str = typer.Option("x")) -> None:
        calls.append((rounds, label, results_dir()))

    command = typer.Typer()
    command.command()(with_quick(fake, rounds=3, label="q"))
    runner = CliRunner()
    assert runner.invoke(command, []).exit_code == 0
    assert runner.invoke(command, ["--quick"]).exit_code == 0
    assert runner.invoke(command, ["--quick", "--rounds", "7"]).exit_code == 0
    recorded = results_dir()
    assert calls == [(30, "x", recorded), (3, "q", recorded / "quick"), (7, "q", recorded / "quick")]
    with pytest.raises(TypeError, match="no option"):
        with_quick(fake, nope=1)


def test_int8_roles_become_the_vision_models_setting() -> None:
    from benchmarks.pipeline import int8_models
    from vision.config import VisionSettings

    settings = VisionSettings(models=int8_models("vehicle_detect, plate_read"))
    assert settings.variant("vehicle_detect") == "int8" and settings.variant("plate_read") == "int8"
    assert settings.variant("face_embed") == "fp32"
    assert int8_models("") == {}


def test_a_capacity_search_without_frames_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Cameras that deliver nothing stop the search with one line, not a traceback or a capacity."""
    from benchmarks import capacity, pipeline

    def no_frames(**_: object) -> dict[str, object]:
        raise capacity.NoFramesError("4 cameras delivered no frame in 30 s")

    monkeypatch.setattr(capacity, "run_capacity", no_frames)
    monkeypatch.setattr(pipeline, "gstreamer_missing", lambda: None)
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "pipeline", "--find-capacity", "--start", "4"])
    assert exit_.value.code == 1
    out, err = capsys.readouterr()
    assert err.strip() == "--find-capacity stopped: 4 cameras delivered no frame in 30 s"
    assert "capacity 0" not in out


def test_fp32_roles_override_the_pack_defaults() -> None:
    import typer

    from benchmarks.pipeline import _int8_flag, variant_models
    from vision.config import VisionSettings

    assert VisionSettings().variant("vehicle_detect") == "int8"  # the pack's defaults
    assert VisionSettings().variant("plate_read") == "fp32"
    models = variant_models("", "vehicle_detect,plate_read")
    settings = VisionSettings(models=models)
    assert settings.variant("vehicle_detect") == "fp32" and settings.variant("plate_read") == "fp32"
    assert _int8_flag(variant_models("face_detect", "plate_read")) == " --int8 face_detect --fp32 plate_read"
    with pytest.raises(typer.BadParameter, match="both --int8 and --fp32"):
        variant_models("plate_read", "plate_read")
