"""Every figure says which CPU made it, SIMD features included (AVX2 vs AVX-512 VNNI: 4x apart)."""

from __future__ import annotations

from benchmarks.machine import SIMD_FLAGS, cpu_features, machine_info, machine_line


def test_cpu_features_are_named_simd_flags_recorded_with_the_machine() -> None:
    features = cpu_features()
    assert set(features) <= set(SIMD_FLAGS.values())
    assert machine_info()["cpu_features"] == features


def test_the_machine_line_names_the_features_when_known() -> None:
    info = {"cpu": "AMD EPYC", "usable_cores": 2, "memory_gib": 23.5}
    assert machine_line(info) == "Machine: AMD EPYC, 2 usable cores, 23.5 GiB"
    info["cpu_features"] = ["AVX2", "AVX-512 VNNI"]
    assert machine_line(info) == "Machine: AMD EPYC (AVX2, AVX-512 VNNI), 2 usable cores, 23.5 GiB"
