"""One wrapper over onnxruntime sessions: providers from config, threads, warm-up.

Providers are asked for by short name (``cpu``, ``cuda``, ``tensorrt``) or by onnxruntime's
own name. A provider this onnxruntime build lacks is dropped with a logged warning and the
session falls back to the next one (CPU is always last), so one config file runs on any box.

``vision.provider`` (``auto|cpu|cuda|tensorrt``) picks one provider with tuned options instead:
:func:`plan_providers` is the pure decision (available providers in, providers + options out),
``auto`` takes TensorRT, else CUDA, else CPU. The GPU builds come from the ``gpu`` extra
(``pip uninstall onnxruntime && pip install -e '.[gpu]'``: the two wheels must not coexist).
"""

from __future__ import annotations

import hashlib
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


PROVIDER_CHOICES = ("auto", "cpu", "cuda", "tensorrt")
CPU, CUDA, TRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"
GPU_INSTALL_HINT = ("pip uninstall -y onnxruntime && pip install 'onnxruntime-gpu[cuda,cudnn]>=1.20,<2' "
                    "(the gpu extra; README, GPU)")
TRT_WORKSPACE_BYTES = 4 * 2**30


class ProviderError(RuntimeError):
    """An explicitly requested provider is missing and ``vision.provider_strict`` is on."""


@dataclass(frozen=True, slots=True)
class ProviderPlan:
    """What :func:`plan_providers` decided.

    Attributes:
        providers: ``(onnxruntime name, options)`` in order, CPU last.
        warning: the one message to log when the request could not be met (``None`` if it was).
        trt_cache: the TensorRT engine cache folder when TensorRT is planned (create it on use).
    """

    providers: list[tuple[str, dict[str, Any]]]
    warning: str | None = None
    trt_cache: Path | None = None

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.providers]


def plan_providers(provider: str, available: Sequence[str], *, strict: bool = False,
                   device_id: int = 0, cache_dir: Path | None = None) -> ProviderPlan:
    """Providers and options for ``vision.provider`` given the available ones (pure).

    ``auto`` takes TensorRT if available, else CUDA, else CPU, silently. An explicit ``cuda`` or
    ``tensorrt`` that is missing falls back to CPU with a warning, or raises
    :class:`ProviderError` when ``strict``. TensorRT runs FP16 with its engine and timing
    caches in ``cache_dir`` (engines take minutes to build: keep them across restarts); CUDA is
    listed after TensorRT for the operators TensorRT rejects, CPU always last.
    """
    if provider not in PROVIDER_CHOICES:
        raise ValueError(f"unknown execution provider {provider!r}; "
                         f"choose one of {', '.join(PROVIDER_CHOICES)}")
    cuda_opts: dict[str, Any] = {"device_id": device_id, "cudnn_conv_algo_search": "HEURISTIC"}
    if provider == "auto":
        wanted = TRT if TRT in available else CUDA if CUDA in available else CPU
    else:
        wanted = PROVIDER_ALIASES[provider]
    warning = None
    if wanted not in available:
        message = (f"execution provider {provider!r} ({wanted}) is not available in this onnxruntime "
                   f"build (available: {', '.join(available) or 'none'}); install the GPU build with: "
                   f"{GPU_INSTALL_HINT}")
        if strict:
            raise ProviderError(message + "; vision.provider_strict is on, so not falling back to CPU")
        warning = message + "; running on CPU"
        wanted = CPU
    out: list[tuple[str, dict[str, Any]]] = []
    trt_cache = None
    if wanted == TRT:
        trt_cache = cache_dir
        trt_opts: dict[str, Any] = {"device_id": device_id, "trt_fp16_enable": True,
                                    "trt_max_workspace_size": TRT_WORKSPACE_BYTES,
                                    "trt_timing_cache_enable": True}
        if cache_dir is not None:
            trt_opts |= {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache_dir),
                         "trt_timing_cache_path": str(cache_dir)}
        out.append((TRT, trt_opts))
        if CUDA in available:
            out.append((CUDA, cuda_opts))
    elif wanted == CUDA:
        out.append((CUDA, cuda_opts))
    out.append((CPU, {}))
    return ProviderPlan(out, warning, trt_cache)


_warned: set[str] = set()
_warned_lock = threading.Lock()


def warn_once(message: str) -> bool:
    """Log ``message`` as a warning the first time this process sees it; whether it was logged."""
    with _warned_lock:
        if message in _warned:
            return False
        _warned.add(message)
    logger.warning("%s", message)
    return True


def model_cache_dir(root: Path, path: Path | str | bytes) -> Path:
    """``root/<first 16 hex of the model's SHA-256>``: one TensorRT engine cache per model file."""
    data = path if isinstance(path, bytes) else Path(path).read_bytes()
    return root / hashlib.sha256(data).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """How to run a model.

    Attributes:
        providers: in order of preference; CPU is appended if absent.
        intra_op_threads: threads inside one operator (0 = onnxruntime's default: all cores).
        inter_op_threads: threads across independent operators (0 = default).
        provider_options: extra options per onnxruntime provider name.
        provider: ``auto|cpu|cuda|tensorrt`` (see :func:`plan_providers`); when set it replaces
            ``providers`` and ``provider_options``.
        strict: with an explicit ``provider``, a missing one is an error instead of CPU.
        device_id: the GPU to run on.
        trt_cache_root: where TensorRT engine caches go (one folder per model, made on use).
    """

    providers: tuple[str, ...] = ("cpu",)
    intra_op_threads: int = 0
    inter_op_threads: int = 0
    provider_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    provider: str | None = None
    strict: bool = False
    device_id: int = 0
    trt_cache_root: Path | None = None


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
        self.trt_cache: Path | None = None
        if self.config.provider is not None:
            provider_list = self._planned(path, available)
        else:
            provider_list = self._listed(available)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.config.intra_op_threads
        opts.inter_op_num_threads = self.config.inter_op_threads
        opts.log_severity_level = 3
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
        if self.config.provider is not None:
            logger.info("%s runs on %s (asked: %s)", self.name, self.providers, self.config.provider)

    def _listed(self, available: Sequence[str]) -> list[Any]:
        """The ``vision.providers`` list: unavailable ones dropped with a warning, CPU last."""
        providers = resolve_providers(self.config.providers, available)
        wanted = [PROVIDER_ALIASES.get(p.lower(), p) for p in self.config.providers]
        missing = [p for p in wanted if p not in providers]
        if missing:
            logger.warning("execution providers %s not available in this onnxruntime build "
                           "(available: %s); falling back to %s", missing, available, providers)
        return [(p, dict(self.config.provider_options[p])) if p in self.config.provider_options else p
                for p in providers]

    def _planned(self, path: Path | str | bytes, available: Sequence[str]) -> list[Any]:
        """The ``vision.provider`` plan; the TensorRT cache folder is made only when TRT runs."""
        assert self.config.provider is not None
        root = self.config.trt_cache_root
        cache = model_cache_dir(root, path) if root is not None and TRT in available else None
        plan = plan_providers(self.config.provider, available, strict=self.config.strict,
                              device_id=self.config.device_id, cache_dir=cache)
        if plan.warning:
            warn_once(plan.warning)
        if plan.trt_cache is not None:
            plan.trt_cache.mkdir(parents=True, exist_ok=True)
            self.trt_cache = plan.trt_cache
        return list(plan.providers)

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
