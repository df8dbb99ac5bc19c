"""The server's startup heap is left out of later garbage collections (``serve`` calls this once started)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from api.app import freeze_startup_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the test session collects as usual


@pytest.mark.usefixtures("unfrozen")
def test_startup_objects_are_frozen_and_garbage_of_startup_is_collected_first() -> None:
    class Node:
        pass

    cycle, kept = Node(), Node()
    cycle.me = cycle  # type: ignore[attr-defined]
    gone, alive = weakref.ref(cycle), weakref.ref(kept)
    del cycle  # garbage only a collection finds
    assert gc.get_freeze_count() == 0 and gone() is not None

    freeze_startup_heap()

    assert gc.get_freeze_count() > 0
    assert gone() is None, "startup garbage is collected before the freeze, not kept for ever"
    assert alive() is kept
