"""Building and loading vvs_tf's C++ ops (vvs_tf/custom_ops): a cached, atomic build, and a clear
fallback when no compiler can build them."""
import logging
import os
import stat

import pytest

from vvs_tf import custom_ops


@pytest.fixture
def fresh_load():
    """custom_ops.load without what earlier tests loaded, restored afterwards."""
    custom_ops.load.cache_clear()
    yield custom_ops.load
    custom_ops.load.cache_clear()


def _fake_compiler(tmp_path, body):
    script = tmp_path / "fake-c++"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_a_failed_build_names_the_compiler_output_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("VVS_TF_CACHE", str(tmp_path / "cache"))
    compiler = _fake_compiler(tmp_path, "echo 'top_k_ops.cc:1: error: boom' >&2; exit 1")
    with pytest.raises(RuntimeError, match="could not build top_k_ops.cc:\n.*boom"):
        custom_ops.build("top_k_ops", compiler)
    build_dir = os.path.dirname(custom_ops.library_path("top_k_ops", compiler))
    assert os.listdir(build_dir) == []  # no partial library for a later load to pick up


def test_a_built_library_is_reused_and_keyed_by_compiler_and_source(tmp_path, monkeypatch):
    monkeypatch.setenv("VVS_TF_CACHE", str(tmp_path / "cache"))
    # A "compiler" that writes its output file (the argument after -o) and counts its runs.
    compiler = _fake_compiler(tmp_path, f'echo run >> {tmp_path}/runs; while [ "$1" != "-o" ]; '
                                        'do shift; done; echo lib > "$2"')
    first = custom_ops.build("top_k_ops", compiler)
    assert custom_ops.build("top_k_ops", compiler) == first
    assert (tmp_path / "runs").read_text().count("run") == 1
    (tmp_path / "other").mkdir()
    other = _fake_compiler(tmp_path / "other", "true")
    assert custom_ops.library_path("top_k_ops", other) != first
    source = tmp_path / "src"
    source.mkdir()
    (source / "top_k_ops.cc").write_text("// an edited op\n")
    monkeypatch.setattr(custom_ops, "SOURCE_DIR", str(source))
    assert custom_ops.library_path("top_k_ops", compiler) != first


def test_without_a_compiler_load_falls_back_with_a_warning(fresh_load, monkeypatch, caplog):
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    with caplog.at_level(logging.WARNING, logger="vvs_tf.custom_ops"):
        assert fresh_load("top_k_ops") is None
    assert "no C++ compiler" in caplog.text


def test_the_switch_turns_custom_ops_off(fresh_load, monkeypatch):
    monkeypatch.setenv("VVS_TF_CUSTOM_OPS", "0")
    assert fresh_load("top_k_ops") is None


def test_a_hung_compiler_is_given_up_on(tmp_path, monkeypatch):
    monkeypatch.setenv("VVS_TF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(custom_ops, "BUILD_TIMEOUT_SECONDS", 1)
    compiler = _fake_compiler(tmp_path, "sleep 30")
    with pytest.raises(RuntimeError, match="did not build top_k_ops.cc within 1 s"):
        custom_ops.build("top_k_ops", compiler)
    assert os.listdir(os.path.dirname(custom_ops.library_path("top_k_ops", compiler))) == []


def test_an_unknown_instruction_set_cap_is_an_error(monkeypatch):
    monkeypatch.setenv("VVS_TF_CUSTOM_OPS_ISA", "avx1024")
    with pytest.raises(ValueError, match="VVS_TF_CUSTOM_OPS_ISA='avx1024': use one of baseline"):
        custom_ops.check_isa_cap()
    monkeypatch.setenv("VVS_TF_CUSTOM_OPS_ISA", "avx2")
    custom_ops.check_isa_cap()
