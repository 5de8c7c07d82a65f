"""vvs_tf's C++ TensorFlow ops, compiled on first use against the installed TensorFlow.

The ops speed up CPU hot paths that no stock TensorFlow op covers (see each .cc file). They are
compiled with the system's C++ compiler (``$CXX``, default ``c++``) and TensorFlow's own compile
and link flags into ``$VVS_TF_CACHE/custom_ops/<key>/``, where the key hashes the source, the
TensorFlow version and the flags, so an upgrade or an edit rebuilds and concurrent processes never
load a half-written library (each writes a temporary file and renames it). Without a compiler, or
when the build fails, ``load`` logs why once and returns None, and callers use their pure
TensorFlow path: results are the same, only slower. ``VVS_TF_CUSTOM_OPS=0`` turns the ops off.

Their hot loops have baseline, AVX2 and AVX-512 versions, and the ops run the best one the CPU
has. ``VVS_TF_CUSTOM_OPS_ISA=baseline|avx2`` caps that (read at each call: the tests run every
version in one process).
"""
import functools
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile

import vvs_tf  # noqa: F401

import tensorflow as tf

from vvs_tf.cache import cache_root

log = logging.getLogger(__name__)

SOURCE_DIR = os.path.dirname(os.path.abspath(__file__))
# No -march=native: a cache directory may be shared by machines of several CPU generations.
OPTIMISATION_FLAGS = ["-O3", "-shared", "-fPIC", "-Wno-deprecated-declarations"]
BUILD_TIMEOUT_SECONDS = 600  # ~15 s on 2 cores; a hung compiler must not hang training


ISA_CAPS = ("baseline", "avx2", "avx512")


def enabled() -> bool:
    return os.environ.get("VVS_TF_CUSTOM_OPS", "1") != "0"


def check_isa_cap():
    """Raises ValueError for a $VVS_TF_CUSTOM_OPS_ISA the ops would not understand (they would
    silently run their best version)."""
    cap = os.environ.get("VVS_TF_CUSTOM_OPS_ISA", "")
    if cap and cap not in ISA_CAPS:
        raise ValueError(f"VVS_TF_CUSTOM_OPS_ISA={cap!r}: use one of {', '.join(ISA_CAPS)}")


def _compiler():
    return shutil.which(os.environ.get("CXX", "c++"))


def _build_command(compiler, source, output):
    return ([compiler, *OPTIMISATION_FLAGS, source, "-o", output]
            + tf.sysconfig.get_compile_flags() + tf.sysconfig.get_link_flags())


def library_path(name: str, compiler: str) -> str:
    """Where the build of `name`.cc for this compiler and TensorFlow lives."""
    source = os.path.join(SOURCE_DIR, f"{name}.cc")
    with open(source, "rb") as file:
        digest = hashlib.sha256(file.read())
    digest.update(" ".join([tf.__version__, *_build_command(compiler, "", "")]).encode())
    return os.path.join(cache_root(), "custom_ops", f"{name}-{digest.hexdigest()[:16]}", f"{name}.so")


def build(name: str, compiler: str) -> str:
    """Compiles `name`.cc unless its library is already in the cache; returns the library path.
    Raises RuntimeError with the compiler's output when the build fails."""
    path = library_path(name, compiler)
    if os.path.exists(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handle, partial = tempfile.mkstemp(suffix=".so.partial", dir=os.path.dirname(path))
    os.close(handle)
    try:
        log.info("compiling vvs_tf's C++ ops %s.cc into %s (once per TensorFlow and source)",
                 name, path)
        try:
            result = subprocess.run(
                _build_command(compiler, os.path.join(SOURCE_DIR, f"{name}.cc"), partial),
                capture_output=True, text=True, timeout=BUILD_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{compiler} did not build {name}.cc within "
                               f"{BUILD_TIMEOUT_SECONDS} s") from None
        if result.returncode != 0:
            raise RuntimeError(f"{compiler} could not build {name}.cc:\n{result.stderr[-2000:]}")
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return path


@functools.lru_cache(maxsize=None)
def load(name: str):
    """The loaded op library `name` (tf.load_op_library), or None where it cannot be had."""
    check_isa_cap()
    if not enabled():
        return None
    compiler = _compiler()
    if compiler is None:
        log.warning("no C++ compiler ($CXX or c++) found: in place of vvs_tf's C++ ops %s.cc, "
                    "stock TensorFlow ops run (same results, slower)", name)
        return None
    try:
        return tf.load_op_library(build(name, compiler))
    except (RuntimeError, OSError, tf.errors.OpError) as err:
        log.warning("vvs_tf's C++ ops %s.cc are unavailable, stock TensorFlow ops run in their "
                    "place (same results, slower): %s", name, err)
        return None
