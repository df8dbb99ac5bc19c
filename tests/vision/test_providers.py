"""Execution provider selection: the pure plan for every case, and a real session on this CPU box."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from estatewatch.config import ConfigError, parse_config
from vision.config import VisionSettings
from vision.session import CPU, CUDA, TRT, OnnxSession, ProviderError, SessionConfig, plan_providers

ALL = [TRT, CUDA, CPU]
CACHE = Path("/data/trt-cache/0123456789abcdef")


@pytest.mark.parametrize(
    ("available", "expected"),
    [(ALL, [TRT, CUDA, CPU]), ([CUDA, CPU], [CUDA, CPU]), ([CPU], [CPU]),
     (["AzureExecutionProvider", CPU], [CPU])],
)
def test_auto_takes_tensorrt_else_cuda_else_cpu_silently(available: list[str], expected: list[str]) -> None:
    plan = plan_providers("auto", available, cache_dir=CACHE)
    assert plan.names == expected
    assert plan.warning is None


def test_tensorrt_runs_fp16_with_its_caches_in_the_data_dir_and_cuda_then_cpu_behind() -> None:
    plan = plan_providers("tensorrt", ALL, device_id=1, cache_dir=CACHE)
    trt = dict(plan.providers)[TRT]
    assert trt["trt_fp16_enable"] is True
    assert trt["trt_engine_cache_enable"] is True
    assert trt["trt_engine_cache_path"] == str(CACHE)
    assert trt["trt_timing_cache_enable"] is True
    assert trt["trt_max_workspace_size"] > 0
    assert trt["device_id"] == 1
    assert plan.trt_cache == CACHE
    assert dict(plan.providers)[CUDA]["device_id"] == 1
    assert plan.names[-1] == CPU


def test_cuda_has_its_options_and_no_trt_cache() -> None:
    plan = plan_providers("cuda", ALL, device_id=0, cache_dir=CACHE)
    assert plan.names == [CUDA, CPU]
    assert dict(plan.providers)[CUDA] == {"device_id": 0, "cudnn_conv_algo_search": "HEURISTIC"}
    assert plan.trt_cache is None


def test_explicit_cpu_is_cpu_even_with_a_gpu() -> None:
    assert plan_providers("cpu", ALL).names == [CPU]


@pytest.mark.parametrize("asked", ["cuda", "tensorrt"])
def test_a_missing_gpu_provider_falls_back_to_cpu_with_a_warning_saying_how_to_install(asked: str) -> None:
    plan = plan_providers(asked, [CPU], cache_dir=CACHE)
    assert plan.names == [CPU]
    assert plan.trt_cache is None
    assert plan.warning is not None
    assert repr(asked) in plan.warning and "available: CPUExecutionProvider" in plan.warning
    assert "pip uninstall -y onnxruntime && pip install 'onnxruntime-gpu" in plan.warning


@pytest.mark.parametrize("asked", ["cuda", "tensorrt"])
def test_strict_makes_a_missing_provider_an_error(asked: str) -> None:
    with pytest.raises(ProviderError, match=rf"'{asked}'.*not available.*provider_strict"):
        plan_providers(asked, [CPU], strict=True)


def test_strict_auto_never_fails() -> None:
    assert plan_providers("auto", [CPU], strict=True).names == [CPU]


def test_an_unknown_provider_names_the_choices() -> None:
    with pytest.raises(ValueError, match="auto, cpu, cuda, tensorrt"):
        plan_providers("rocm", ALL)


def test_bench_models_sweeps_to_64_on_a_gpu_provider_only() -> None:
    from benchmarks.models import default_batches

    assert default_batches(CUDA).split(",")[-1] == default_batches(TRT).split(",")[-1] == "64"
    assert default_batches(CPU).split(",")[-1] == "32"


def test_config_rejects_a_bad_provider_naming_the_allowed_values() -> None:
    with pytest.raises(ConfigError, match=r"vision\.provider: .*'auto', 'cpu', 'cuda' or 'tensorrt'"):
        parse_config("vision: {provider: gpu}", {}, "site.yaml")
    cfg = parse_config("vision: {provider: cuda, provider_strict: true, device_id: 1}", {})
    assert (cfg.vision.provider, cfg.vision.provider_strict, cfg.vision.device_id) == ("cuda", True, 1)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real one-operator ONNX model (y = x + 1), enough to open real sessions."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])
    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    graph = helper.make_graph([helper.make_node("Add", ["x", "one"], ["y"])], "tiny", [x], [y], [one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path_factory.mktemp("tiny") / "tiny.onnx"
    onnx.save(model, str(path))
    return path


def test_cuda_asked_on_this_cpu_only_box_runs_on_cpu_and_warns_once(
        tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    import onnxruntime as ort

    if CUDA in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA: the fallback cannot be seen here")
    monkeypatch.setenv("ESTATEWATCH_DATA_DIR", str(tmp_path))
    config = VisionSettings(provider="cuda", device_id=3).session_config()  # device 3: unique warning
    with caplog.at_level(logging.WARNING, logger="vision.session"):
        first = OnnxSession(tiny_model, config)
        second = OnnxSession(tiny_model, config)
    assert first.providers == second.providers == [CPU]
    assert first.run(np.zeros((2, 4), np.float32))[0].tolist() == [[1.0] * 4] * 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "'cuda'" in warnings[0] and "running on CPU" in warnings[0]
    assert not (tmp_path / "trt-cache").exists()  # no engine cache without TensorRT
    assert first.trt_cache is None


def test_strict_cuda_on_this_cpu_only_box_does_not_start(tiny_model: Path) -> None:
    import onnxruntime as ort

    if CUDA in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(ProviderError, match="provider_strict"):
        OnnxSession(tiny_model, SessionConfig(provider="cuda", strict=True))


def test_the_engine_cache_folder_is_made_per_model_only_when_tensorrt_runs(
        tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime as ort

    root = tmp_path / "trt-cache"
    config = SessionConfig(provider="tensorrt", trt_cache_root=root)
    if TRT not in ort.get_available_providers():
        session = OnnxSession(tiny_model, config)
        assert session.providers == [CPU]
        assert not root.exists()
        # what a TensorRT box gets: the plan names a folder under the root, made on open
        # (onnxruntime itself, lacking the libraries, then warns and runs on CPU)
        monkeypatch.setattr(ort, "get_available_providers", lambda: [TRT, CUDA, CPU])
        with pytest.warns(UserWarning, match="not in available provider"):
            session = OnnxSession(tiny_model, config)
    else:  # pragma: no cover - GPU box
        session = OnnxSession(tiny_model, config)
    made = list(root.iterdir())
    assert len(made) == 1 and len(made[0].name) == 16
    assert session.trt_cache == made[0]


def test_lanes_default_to_the_cores_for_one_threaded_cpu_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert VisionSettings().batch_lanes(CPU) == 3
    assert VisionSettings(intra_op_threads=0).batch_lanes(CPU) == 1  # each call already uses every core
    assert VisionSettings().batch_lanes(CUDA) == 1 and VisionSettings().batch_lanes(TRT) == 1
    assert VisionSettings(lanes=2).batch_lanes(CUDA) == 2  # an explicit value always wins
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert VisionSettings().batch_lanes(CPU) == 8
