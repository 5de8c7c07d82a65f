"""A tiny ResNet-18 (width 8, 32 px) exported once per session, and micro backbones that export
in a second, for the export tests."""
import vvs_tf  # noqa: F401

import keras
import numpy as np
import pytest
import tensorflow as tf

from vvs_tf.exporting import export_activation_model
from vvs_tf.models.resnet import build_resnet


@pytest.fixture(scope="session")
def tiny_backbone():
    keras.utils.set_random_seed(11)
    # As vvs-train builds it on a CPU: layer4's kernel gradients are custom (models/conv.py).
    return build_resnet(18, width=8, input_size=32, patch_kernel_grad=True)


@pytest.fixture(scope="session")
def tiny_export(tiny_backbone, tmp_path_factory):
    """(version dir, loaded SavedModel) of the tiny backbone, with a recorded training config."""
    base = tmp_path_factory.mktemp("exports")
    path = export_activation_model(
        tiny_backbone, str(base), "tiny", config={"method": "ir", "model": {"width": 8}, "seed": 11},
        preprocessing={"eval_resize": 36})
    return path, tf.saved_model.load(path)


@pytest.fixture
def micro_backbone():
    """Two conv read-outs ("a", "b.1") on 8x8 images: exports in about a second."""
    keras.utils.set_random_seed(5)
    x = inputs = keras.Input((8, 8, 3), name="images")
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="a")(x)
    b = keras.layers.Conv2D(6, 3, strides=2, padding="same", name="b.1")(a)
    return keras.Model(inputs, {"a": a, "b.1": b}, name="micro")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
