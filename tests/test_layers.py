"""Imports go one way: streams -> vision -> registry -> alarms -> api, with models and storage below them all.

Only the composition root (``estatewatch``) imports across every stage; benchmarks measure the
stages and may import any of them, but not the root, and the root imports benchmarks only where
its CLI hands the ``bench`` command group over to them. The test reads every module's imports (the
lazy ones inside functions too), so a new arrow the wrong way fails here, naming the file.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAGES = ["storage", "models", "streams", "vision", "registry", "alarms", "api"]
PACKAGES = [*STAGES, "estatewatch", "benchmarks"]

ALLOWED: dict[str, set[str]] = {stage: set(STAGES[: i + 1]) for i, stage in enumerate(STAGES)}
ALLOWED["estatewatch"] = {*STAGES, "estatewatch"}
ALLOWED["benchmarks"] = {*STAGES, "benchmarks"}

# Arrows the wrong way that exist today, each with the file and why; the restructure removes them.
KNOWN: dict[tuple[str, str], set[str]] = {
    ("benchmarks", "estatewatch"): {"benchmarks/pipeline.py"},  # the frame scheduler lives in the root
    ("estatewatch", "benchmarks"): {
        "estatewatch/cli.py",  # the `bench` command group (this one stays)
        "estatewatch/demo.py",  # the demo's sample media comes from benchmarks.media
    },
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
