"""One wrapper over onnxruntime sessions: providers from config, threads, warm-up.

Providers are asked for by short name (``cpu``, ``cuda``, ``tensorrt``) or by onnxruntime's
own name. A provider this onnxruntime build lacks is dropped with a logged warning and the
session falls back to the next one (CPU is always last), so one config file runs on any box.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
}


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """How to run a model.

    Attributes:
        providers: in order of preference; CPU is appended if absent.
        intra_op_threads: threads inside one operator (0 = onnxruntime's default: all cores).
        inter_op_threads: threads across independent operators (0 = default).
        provider_options: extra options per onnxruntime provider name.
    """

    providers: tuple[str, ...] = ("cpu",)
    intra_op_threads: int = 0
    inter_op_threads: int = 0
    provider_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def resolve_providers(requested: Sequence[str], available: Sequence[str]) -> list[str]:
    """Map requested provider names onto the available ones, keeping order, CPU last.

    Pure: unavailable ones are dropped (the caller logs), CPU is always present.
    """
    out: list[str] = []
    for name in requested:
        full = PROVIDER_ALIASES.get(name.lower(), name)
        if full in available and full not in out:
            out.append(full)
    if "CPUExecutionProvider" not in out:
        out.append("CPUExecutionProvider")
    return out


class OnnxSession:
    """A loaded ONNX model: thread-safe ``run``, typed input metadata, warm-up.

    ``run`` may be called from several threads: onnxruntime sessions are thread-safe for
    inference, and the dynamic batcher calls each session from one worker thread anyway.
    """

    def __init__(self, path: Path | str | bytes, config: SessionConfig | None = None) -> None:
        import onnxruntime as ort

        self.config = config or SessionConfig()
        available = ort.get_available_providers()
        providers = resolve_providers(self.config.providers, available)
        wanted = [PROVIDER_ALIASES.get(p.lower(), p) for p in self.config.providers]
        missing = [p for p in wanted if p not in providers]
        if missing:
            logger.warning("execution providers %s not available in this onnxruntime build "
                           "(available: %s); falling back to %s", missing, available, providers)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.config.intra_op_threads
        opts.inter_op_num_threads = self.config.inter_op_threads
        opts.log_severity_level = 3
        provider_list: list[Any] = [
            (p, dict(self.config.provider_options[p])) if p in self.config.provider_options else p
            for p in providers
        ]
        source = path if isinstance(path, bytes) else str(path)
        self.name = "<bytes>" if isinstance(path, bytes) else Path(path).name
        self._session = ort.InferenceSession(source, sess_options=opts, providers=provider_list)
        self.providers: list[str] = list(self._session.get_providers())
        inputs = self._session.get_inputs()
        self.input_names = [i.name for i in inputs]
        self.input_shapes = [list(i.shape) for i in inputs]
        self.output_names = [o.name for o in self._session.get_outputs()]
        self.metadata: dict[str, str] = dict(self._session.get_modelmeta().custom_metadata_map)
        self._lock = threading.Lock()
        self.calls = 0

    @property
    def provider(self) -> str:
        """The provider that runs this session (the first one onnxruntime accepted)."""
        return self.providers[0]

    def run(self, *inputs: npt.NDArray[Any]) -> list[npt.NDArray[Any]]:
        """Run the model on positional inputs (in the model's input order)."""
        if len(inputs) != len(self.input_names):
            raise ValueError(f"{self.name} takes {len(self.input_names)} inputs, got {len(inputs)}")
        feeds = dict(zip(self.input_names, inputs, strict=True))
        outputs = self._session.run(None, feeds)
        with self._lock:
            self.calls += 1
        return [np.asarray(o) for o in outputs]
