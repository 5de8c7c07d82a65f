"""vvs_tf: unsupervised models of the primate ventral visual stream (TensorFlow 2 / Keras 3).

Importing the package before TensorFlow switches on TensorFlow's oneDNN kernels, which TF leaves
off on CPUs without AVX-512 although they make a ResNet training step about 4x faster there. An
explicit ``TF_ENABLE_ONEDNN_OPTS`` set by the user always wins.
"""
import os as _os
import sys as _sys

_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if "tensorflow" in _sys.modules and _os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1":
    import warnings as _warnings

    _warnings.warn(
        "vvs_tf was imported after tensorflow: oneDNN CPU kernels may be off. Import vvs_tf "
        "first or export TF_ENABLE_ONEDNN_OPTS=1.",
        stacklevel=2,
    )

__version__ = "0.1.0"
