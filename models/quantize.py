"""INT8 static quantisation of a fetched model (onnxruntime's tools, QDQ format).

The caller supplies the calibration inputs: real, already preprocessed ``(N, ...)`` float32
tensors in a fixed order (``media.calibration`` builds them with each model's own
preprocessing; this layer knows no preprocessing). Everything else comes from the model's
recipe in the manifest. Weights are signed INT8 (per output channel where the recipe says so),
activations unsigned INT8 with MinMax (or entropy/percentile) ranges over the calibration set.
The result and its record (:class:`models.variants.VariantRecord`) are written atomically
beside the FP32 file. Same FP32 file, same inputs, same onnxruntime: same bytes.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.fetch import ModelError, require, sha256_file
from models.manifest import ModelSpec, QuantRecipe
from models.variants import VariantRecord, record_path, variant_path
from storage.files import write_atomic

logger = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]


def calibration_digest(tensors: Sequence[F32]) -> str:
    """sha256 over the calibration tensors' shapes and bytes, in order."""
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(repr(tensor.shape).encode())
        digest.update(np.ascontiguousarray(tensor, np.float32).tobytes())
    return digest.hexdigest()


def excluded_nodes(model_path: Path, patterns: Sequence[str]) -> list[str]:
    """Names of the graph's nodes that match one of ``patterns`` (regular expressions)."""
    if not patterns:
        return []
    import onnx

    compiled = [re.compile(p) for p in patterns]
    graph = onnx.load(str(model_path), load_external_data=False).graph
    return [n.name for n in graph.node if any(c.search(n.name) for c in compiled)]


class _Reader:
    """onnxruntime's CalibrationDataReader over a list of tensors, one model call each."""

    def __init__(self, input_name: str, tensors: Sequence[F32],
                 progress: Callable[[int, int], None] | None) -> None:
        self.input_name, self.tensors, self.progress = input_name, tensors, progress
        self.index = 0

    def get_next(self) -> dict[str, F32] | None:
        if self.index >= len(self.tensors):
            return None
        tensor = self.tensors[self.index]
        self.index += 1
        if self.progress is not None:
            self.progress(self.index, len(self.tensors))
        return {self.input_name: tensor}

    def rewind(self) -> None:
        self.index = 0


def _method(name: str) -> Any:
    from onnxruntime.quantization import CalibrationMethod

    return {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile}[name]


def quantize_file(source: Path, target: Path, recipe: QuantRecipe, tensors: Sequence[F32],
                  progress: Callable[[int, int], None] | None = None) -> None:
    """Quantise ``source`` to ``target`` (QDQ, S8 weights, U8 activations) on ``tensors``."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    prepared = prepare(source, target.with_name(f"{target.stem}.prepared.onnx"))
    input_name = ort.InferenceSession(str(prepared), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    quantize_static(
        str(prepared), str(target), _Reader(input_name, tensors, progress),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8 if recipe.activations == "u8" else QuantType.QInt8,
        weight_type=QuantType.QInt8,
        per_channel=recipe.per_channel,
        reduce_range=recipe.reduce_range,
        calibrate_method=_method(recipe.method),
        op_types_to_quantize=list(recipe.op_types) or None,
        nodes_to_exclude=excluded_nodes(prepared, recipe.exclude),
        extra_options={"CalibMaxIntermediateOutputs": _chunk(len(tensors))},
    )


MIN_OPSET = 13
"""Per-channel QDQ needs DequantizeLinear's ``axis`` (opset 13); older models are converted first."""


def prepare(source: Path, target: Path) -> Path:
    """``source`` at opset >= 13 with onnxruntime's pre-quantisation shape inference (``target``)."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(str(source))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), MIN_OPSET)
    if opset < MIN_OPSET:
        model = version_converter.convert_version(model, MIN_OPSET)
    upgraded = target.with_name(f"{target.stem}.opset.onnx")
    onnx.save(model, str(upgraded))
    quant_pre_process(str(upgraded), str(target), skip_symbolic_shape=True)
    return target


def _chunk(count: int) -> int:
    """How many calibration outputs are held before their ranges are merged (bounded memory).

    onnxruntime 1.2x fails ("No data is collected") when the count is a multiple of the chunk,
    so the chunk is the smallest of 4..8 that leaves a remainder (or all inputs at once).
    """
    return next((k for k in range(4, 9) if count % k), count)


def quantize_model(spec: ModelSpec, tensors: Sequence[F32], *, store: Path | None = None,
                   source_note: str = "",
                   progress: Callable[[int, int], None] | None = None) -> VariantRecord:
    """Make and record the INT8 variant of one fetched model.

    Args:
        spec: the model (its manifest ``int8`` recipe is used).
        tensors: real calibration inputs, preprocessed, in a fixed order (``(1, ...)`` each is
            usual; the digest of them is recorded).
        store: the model store (default: the configured one).
        source_note: where the inputs came from (recorded).
        progress: called with (done, total) as calibration runs.

    Raises:
        ModelError: the model has no recipe, the FP32 file is missing or corrupt, no inputs.
    """
    import onnxruntime as ort

    if spec.int8 is None:
        raise ModelError(f"model {spec.name}: the manifest gives it no int8 recipe")
    if not tensors:
        raise ModelError(f"model {spec.name}: no calibration inputs")
    source = require(spec, store)
    target = variant_path(spec.name, "int8", store)
    with tempfile.TemporaryDirectory(prefix=f".{spec.name}-int8-", dir=target.parent) as tmp:
        out = Path(tmp) / target.name
        quantize_file(source, out, spec.int8, tensors, progress)
        data = out.read_bytes()
    record = VariantRecord(
        model=spec.name, variant="int8", sha256=hashlib.sha256(data).hexdigest(), size=len(data),
        source_sha256=sha256_file(source), recipe=spec.int8.as_dict(),
        calibration={"inputs": len(tensors), "sha256": calibration_digest(tensors), "source": source_note},
        onnxruntime=ort.__version__,
    )
    write_atomic(target, data)
    write_atomic(record_path(spec.name, "int8", store), record.to_json().encode())
    logger.info("model %s: wrote int8 variant %s (%d bytes, sha256 %s)", spec.name, target, len(data),
                record.sha256[:16])
    return record
