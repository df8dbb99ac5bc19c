"""The contract every model family implements, and the explicit family registry.

A family is a small class: ``load()`` opens the ONNX session and runs one warm-up
inference (so the first real frame is not slow), ``infer(batch)`` takes a list of inputs and
returns one result per input, in order. Preprocessing is vectorised over the batch.
Which class runs a model is written in the manifest (``family``), never guessed from tensor
shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from vision.session import SessionConfig

InT = TypeVar("InT", contravariant=True)
OutT = TypeVar("OutT")


@runtime_checkable
class Model(Protocol[InT, OutT]):
    """A batched model: ``infer([x1, x2, ...]) == [infer([x1])[0], infer([x2])[0], ...]``."""

    family: ClassVar[str]
    name: str

    def load(self) -> None:
        """Open the session and warm it up."""

    def infer(self, batch: Sequence[InT]) -> list[OutT]:
        """One result per input, in order."""
        ...


FAMILIES: dict[str, type[Any]] = {}
"""Family name (the manifest's ``family``) -> class. Filled by :func:`register_family`."""

T = TypeVar("T")


def register_family(cls: type[T]) -> type[T]:
    """Class decorator: add a model family to :data:`FAMILIES` under its ``family`` key."""
    key = getattr(cls, "family", None)
    if not isinstance(key, str) or not key:
        raise TypeError(f"{cls.__name__} needs a non-empty ClassVar 'family'")
    if key in FAMILIES and FAMILIES[key] is not cls:
        raise TypeError(f"family {key!r} registered twice ({FAMILIES[key].__name__}, {cls.__name__})")
    FAMILIES[key] = cls
    return cls


def create(family: str, path: Path, config: SessionConfig | None = None, **kwargs: Any) -> Any:
    """Instantiate the class registered for ``family`` (importing all family modules first)."""
    import vision.families  # noqa: F401  (registers every family)

    try:
        cls = FAMILIES[family]
    except KeyError:
        raise KeyError(f"unknown model family {family!r}; known: {sorted(FAMILIES)}") from None
    return cls(path, config=config, **kwargs)
