"""INT8 variants: made from real calibration inputs, verified on load, selected by config, run by vision.

One small model (the plate detector) is quantised once per session into a private store, on a
few real inputs (street-clip frames and rendered plates) at a smaller input size so that the
test stays quick; the accuracy gates on the full sets are ``estatewatch models quantize --check``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from benchmarks.quantize import matched
from estatewatch.cli import app
from estatewatch.config import ConfigError, parse_config
from media.calibration import VTEST, Picture, calibration_tensors, detector_frames, video_frames
from media.plates import generate
from models.fetch import ModelError, model_path
from models.manifest import ManifestError, ModelSpec, _recipe, load_manifest
from models.quantize import quantize_model
from models.variants import VariantRecord, record_path, require_variant, variant_path
from vision.config import VisionSettings
from vision.engine import VisionEngine
from vision.plate.detector import PlateDetector
from vision.plate.pipeline import PlatePipeline
from vision.types import Detections

SIZE = (640, 640)


@pytest.fixture(scope="session")
def plate_spec() -> ModelSpec:
    spec = load_manifest()["clp_det"]
    assert spec.int8 is not None
    return spec


def _store_with_fp32(model_store: Path, spec: ModelSpec, target: Path) -> Path:
    """A private store with the FP32 plate models (links to the session's verified files)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in (spec.name, "ppocrv6_rec"):
        model_path(name, target).symlink_to(model_path(name, model_store).resolve())
    return target


def _calibration(spec: ModelSpec, store: Path, count: int) -> list[np.typing.NDArray[np.float32]]:
    detector = PlateDetector(model_path(spec.name, store), name=spec.name).resized(SIZE)
    frames = [p for p in detector_frames(plates=3) if p.source.startswith(("vtest", "plate:"))]
    pictures = frames[::2][:count - 3] + frames[-3:]
    return calibration_tensors(detector, pictures)


@pytest.fixture(scope="session")
def int8_store(model_store: Path, plate_spec: ModelSpec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding clp_det and its INT8 variant (made once per session)."""
    store = _store_with_fp32(model_store, plate_spec, tmp_path_factory.mktemp("int8-store"))
    quantize_model(plate_spec, _calibration(plate_spec, store, 7), store=store, source_note="test")
    return store


@pytest.fixture(scope="session")
def plate_photos() -> list[Picture]:
    """Rendered plates on real photos (the ``bench plates`` set) and two street frames."""
    plates = [Picture(p.text, p.image) for p in generate(6, 0)]
    return plates + video_frames(VTEST, (250, 550))


def test_int8_file_and_record_sit_beside_fp32(int8_store: Path, plate_spec: ModelSpec) -> None:
    path = variant_path(plate_spec.name, "int8", int8_store)
    assert path == int8_store / "clp_det.int8.onnx"
    record = VariantRecord.read(record_path(plate_spec.name, "int8", int8_store))
    assert record.source_sha256 == plate_spec.expected_stored_sha256
    assert record.size == path.stat().st_size
    assert record.calibration["inputs"] == 7
    assert require_variant(plate_spec, "int8", int8_store) == path


def test_int8_runs_through_the_vision_path_and_agrees_with_fp32(
        int8_store: Path, plate_photos: list[Picture]) -> None:
    images = [p.image for p in plate_photos]
    found: dict[str, list[Detections]] = {}
    for variant in ("fp32", "int8"):
        settings = VisionSettings.model_validate({"models": {"plate_detect": {"variant": variant}}})
        pipeline = PlatePipeline.from_store(store=int8_store, variants=settings.variants())
        assert pipeline.detector.path.name == f"clp_det{'' if variant == 'fp32' else '.int8'}.onnx"
        detector = pipeline.detector.with_score_threshold(0.5)
        found[variant] = detector.infer(images)
    reference = sum(len(d) for d in found["fp32"])
    assert reference >= 6  # every rendered plate is found by FP32
    hits = sum(matched(r, f)[0] for r, f in zip(found["fp32"], found["int8"], strict=True))
    assert hits >= reference - 1, (hits, reference)


def test_the_engine_loads_the_configured_variant(int8_store: Path) -> None:
    settings = VisionSettings.model_validate({"models": {"plate_detect": {"variant": "int8"}}})
    with VisionEngine(settings, store=int8_store, tasks=("plate_detect",)) as engine:
        detector = engine.model("plate_detect", PlateDetector)
        assert detector.path.name == "clp_det.int8.onnx"
        assert len(detector.infer([generate(1, 0)[0].image])[0]) >= 1


def test_quantisation_is_reproducible(model_store: Path, plate_spec: ModelSpec, tmp_path: Path) -> None:
    """Same FP32 file, same real inputs, same onnxruntime: the same bytes."""
    hashes = []
    for run in ("a", "b"):
        store = _store_with_fp32(model_store, plate_spec, tmp_path / run)
        detector = PlateDetector(model_path(plate_spec.name, store), name=plate_spec.name).resized((320, 320))
        pictures = [Picture(p.text, p.image) for p in generate(2, 5)]
        hashes.append(quantize_model(plate_spec, calibration_tensors(detector, pictures), store=store).sha256)
    assert hashes[0] == hashes[1]


def test_a_corrupt_int8_file_is_a_clear_error(int8_store: Path, plate_spec: ModelSpec,
                                              tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(int8_store, store, symlinks=True)
    path = variant_path(plate_spec.name, "int8", store)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"clp_det: int8 file .* is corrupt: sha256 .*"
                                         r"run `estatewatch models quantize --models clp_det`"):
        require_variant(plate_spec, "int8", store)


def test_an_int8_file_made_from_another_fp32_model_is_refused(
        int8_store: Path, plate_spec: ModelSpec, tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(int8_store, store, symlinks=True)
    record = record_path(plate_spec.name, "int8", store)
    raw = json.loads(record.read_text())
    raw["source_sha256"] = "0" * 64
    record.write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="made from another FP32 model"):
        require_variant(plate_spec, "int8", store)


def test_a_missing_int8_file_names_the_command(model_store: Path, plate_spec: ModelSpec,
                                               tmp_path: Path) -> None:
    store = _store_with_fp32(model_store, plate_spec, tmp_path / "store")
    settings = VisionSettings.model_validate({"models": {"plate_detect": {"variant": "int8"}}})
    with pytest.raises(ModelError, match=r"clp_det: the int8 variant is not made: .*clp_det\.int8\.onnx "
                       r"is missing \(run `estatewatch models quantize --models clp_det`\)"):
        PlatePipeline.from_store(store=store, variants=settings.variants())


def test_a_model_without_recipe_has_no_int8() -> None:
    spec = dataclasses.replace(load_manifest()["retinaface_mnet025"], int8=None)
    with pytest.raises(ModelError, match="retinaface_mnet025 has no int8 variant"):
        require_variant(spec, "int8")


@pytest.mark.parametrize(
    ("models", "expected_error"),
    [
        ({}, None),
        ({"vehicle_detect": {"variant": "int8"}}, None),
        ({"face_embed": {"variant": "fp32"}}, None),
        ({"vehicle_detect": {"variant": "int4"}}, "models.vehicle_detect.variant"),
        ({"car_detect": {"variant": "int8"}}, "models.car_detect"),
        ({"plate_read": {"variant": "int8", "bits": 8}}, "bits"),
    ],
)
def test_config_selects_a_variant_per_role(models: dict[str, object], expected_error: str | None) -> None:
    if expected_error:
        with pytest.raises(ValidationError, match=expected_error.replace(".", r"\.")):
            VisionSettings.model_validate({"models": models})
        return
    settings = VisionSettings.model_validate({"models": models})
    pack_default = {"vehicle_detect": "int8", "face_embed": "fp32", "plate_detect": "fp32"}
    for task in ("vehicle_detect", "face_embed", "plate_detect"):
        expected = models.get(task, {"variant": pack_default[task]})["variant"]  # type: ignore[index]
        assert settings.variant(task) == expected  # type: ignore[arg-type]


def test_the_service_yaml_selects_variants() -> None:
    config = parse_config("vision:\n  models:\n    vehicle_detect: {variant: fp32}\n", {})
    assert config.vision.variant("vehicle_detect") == "fp32"
    assert config.vision.variant("plate_read") == "fp32"  # the pack's default
    assert config.vision.variant("face_embed") == "fp32"
    with pytest.raises(ConfigError,
                       match=r"vision\.models\.vehicle_detect\.variant: Input should be 'fp32' or 'int8'"):
        parse_config("vision:\n  models:\n    vehicle_detect: {variant: int4}\n", {})


@pytest.mark.parametrize(
    ("raw", "expected_error"),
    [
        ({"per_channel": False, "calibration": 8}, None),
        ({"method": "entropy", "exclude": ["^/head/"]}, None),
        ({"method": "random"}, "unknown int8 method 'random'"),
        ({"calibration": 0}, "at least one input"),
        ({"bits": 4}, r"unknown int8 fields \['bits'\]"),
    ],
)
def test_manifest_recipe(raw: dict[str, object], expected_error: str | None) -> None:
    if expected_error:
        with pytest.raises(ManifestError, match=expected_error):
            _recipe("toy", raw)
        return
    recipe = _recipe("toy", raw)
    assert recipe is not None and recipe.as_dict()["method"] == raw.get("method", "minmax")


def test_quantize_cli_rejects_an_unknown_model() -> None:
    result = CliRunner().invoke(app, ["models", "quantize", "--models", "nope"])
    assert result.exit_code == 2
    assert "'nope' is not one of" in result.output


def test_the_int8_defaults_are_for_cpus() -> None:
    """On CUDA or TensorRT the pack runs FP32 (TensorRT builds FP16 engines from it) unless configured."""
    cpu, cuda, trt = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"
    assert VisionSettings().variant("vehicle_detect", [cpu, cuda]) == "int8"  # providers: [cpu]
    assert VisionSettings(provider="cuda").variant("vehicle_detect", [cpu]) == "int8"  # falls back to CPU
    assert VisionSettings(provider="cuda").variant("vehicle_detect", [cuda, cpu]) == "fp32"
    assert VisionSettings(provider="auto").variant("vehicle_detect", [trt, cuda, cpu]) == "fp32"
    assert VisionSettings(provider="auto").variant("vehicle_detect", [cpu]) == "int8"
    assert VisionSettings(providers=["cuda", "cpu"]).variant("vehicle_detect", [cuda, cpu]) == "fp32"
    configured = VisionSettings(provider="tensorrt", models={"vehicle_detect": {"variant": "int8"}})
    assert configured.variant("vehicle_detect", [trt, cpu]) == "int8"
    assert configured.variant("plate_read", [trt, cpu]) == "fp32"


def test_fetching_some_models_makes_only_their_default_variants(model_store: Path) -> None:
    """`models fetch clp_det` on a fresh store must not quantise (or need) YOLO11n."""
    from benchmarks.quantize import make_default_variants

    lines: list[str] = []
    assert make_default_variants(lines.append, ["clp_det"]) == [] and lines == []
    assert make_default_variants(lines.append, ["yolo11n"]) == []  # made and verified by the session
    assert len(lines) == 1 and lines[0].startswith("ok") and "yolo11n.int8" in lines[0]
