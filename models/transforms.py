"""Rewrites applied to a model at fetch time (recorded in the manifest with the result's hash)."""

from __future__ import annotations


def symbolic_batch(data: bytes, dim_name: str = "batch") -> bytes:
    """Give every graph input and output a symbolic first (batch) dimension.

    ``w600k_mbf.onnx`` declares its output as ``[1, 512]`` although the graph computes any
    batch; onnxruntime then warns on every batched call. The weights are untouched: only the
    declared shapes change, and stale intermediate shape annotations are dropped so that
    onnxruntime re-infers them.
    """
    import onnx

    model = onnx.load_from_string(data)
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].Clear()
            dims[0].dim_param = dim_name
    del model.graph.value_info[:]
    return bytes(model.SerializeToString())
