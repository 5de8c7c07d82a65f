"""vvs_tf: unsupervised models of the primate ventral visual stream (TensorFlow 2 / Keras 3).

Importing the package before TensorFlow switches on TensorFlow's oneDNN kernels, which TF leaves
off on CPUs without AVX-512 although they make a ResNet training step about 4x faster there, and
lets XLA's CPU backend use oneDNN too (its classic runtime: XLA's default CPU runtime has no oneDNN
convolutions, and a jit-compiled ResNet-18 step runs about 2.7x slower there). Settings the user
made (``TF_ENABLE_ONEDNN_OPTS``, any of these flags in ``XLA_FLAGS``) always win.
"""
import os as _os
import sys as _sys

_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
if _os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1":
    _xla_flags = _os.environ.get("XLA_FLAGS", "")
    _missing = [flag for flag in ("--xla_cpu_use_thunk_runtime=false", "--xla_cpu_use_onednn=true")
                if flag.split("=")[0] not in _xla_flags]
    if _missing:
        _os.environ["XLA_FLAGS"] = " ".join([_xla_flags, *_missing]).strip()
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if "tensorflow" in _sys.modules and _os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1":
    import warnings as _warnings

    _warnings.warn(
        "vvs_tf was imported after tensorflow: oneDNN CPU kernels may be off. Import vvs_tf "
        "first or export TF_ENABLE_ONEDNN_OPTS=1.",
        stacklevel=2,
    )

__version__ = "0.1.0"
