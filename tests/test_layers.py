"""Imports go one way: streams -> vision -> registry -> alarms -> api, with models and storage below them all.

Only the composition root (``estatewatch``) imports across every stage; benchmarks measure the
stages and may import any of them, but not the root, and the root imports benchmarks only where
its CLI hands the ``bench`` command group over to them. ``media`` (sample photos, rendered plates
and clips for the demo, tests and benchmarks) sits beside the stages it draws on (models,
streams, vision); no stage imports it. The test reads every module's imports (the
lazy ones inside functions too), so a new arrow the wrong way fails here, naming the file.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAGES = ["storage", "models", "streams", "vision", "registry", "alarms", "api"]
PACKAGES = [*STAGES, "estatewatch", "benchmarks", "media"]

ALLOWED: dict[str, set[str]] = {stage: set(STAGES[: i + 1]) for i, stage in enumerate(STAGES)}
ALLOWED["media"] = {"storage", "models", "streams", "vision", "media"}
ALLOWED["estatewatch"] = {*STAGES, "estatewatch", "media"}
ALLOWED["benchmarks"] = {*STAGES, "benchmarks", "media"}

# The one arrow the wrong way, with the file and why.
KNOWN: dict[tuple[str, str], set[str]] = {
    ("estatewatch", "benchmarks"): {"estatewatch/cli.py"},  # the `bench` command group
}


def imported_packages(path: Path) -> set[str]:
    """Top-level project packages that ``path`` imports (absolute imports, at any depth)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(name.split(".")[0] for name in names if name.split(".")[0] in PACKAGES)
    return found


def wrong_arrows() -> dict[tuple[str, str], set[str]]:
    arrows: dict[tuple[str, str], set[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for target in imported_packages(path) - ALLOWED[package]:
                arrows.setdefault((package, target), set()).add(path.relative_to(ROOT).as_posix())
    return arrows


def test_imports_go_one_way() -> None:
    assert wrong_arrows() == KNOWN


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import vision.cascade\n", {"vision"}),
        ("from alarms.store import AlarmStore\n", {"alarms"}),
        ("def f():\n    from api import app\n", {"api"}),  # lazy imports count
        ("from . import sibling\nimport numpy\n", set()),  # relative and third-party do not
    ],
)
def test_imported_packages(tmp_path: Path, source: str, expected: set[str]) -> None:
    module = tmp_path / "m.py"
    module.write_text(source)
    assert imported_packages(module) == expected
