"""Decoders: the unpooling and the up-projection wiring against NumPy, output sizes, bad sizes."""
import vvs_tf  # noqa: F401

import keras
import numpy as np
import pytest
import tensorflow as tf

from vvs_tf.models.decoders import Unpool2x, mirrored_resnet_decoder, up_projection, up_projection_decoder

_BN_SCALE = 1.0 / np.sqrt(1.0 + 1e-5)  # a fresh BatchNorm at inference: x / sqrt(1 + eps)


def _numpy_unpool(x):
    out = np.zeros((x.shape[0], 2 * x.shape[1], 2 * x.shape[2], x.shape[3]), x.dtype)
    out[:, ::2, ::2] = x
    return out


def test_unpool_puts_each_value_top_left_of_a_zero_cell():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(Unpool2x()(tf.constant(x)).numpy(), _numpy_unpool(x))


def test_up_projection_is_unpool_plus_residual_branches():
    """With the two-conv branch zeroed and an identity projection, the block is ReLU(unpool(x))."""
    channels = 3
    inputs = keras.Input((None, None, channels))
    model = keras.Model(inputs, up_projection(inputs, channels, 5, "up"))
    identity = np.zeros((5, 5, channels, channels), np.float32)
    identity[2, 2] = np.eye(channels)
    for layer in model.layers:
        if layer.name in ("up.conv1", "up.conv2"):
            layer.kernel.assign(np.zeros(layer.kernel.shape, np.float32))
        elif layer.name == "up.projection":
            layer.kernel.assign(identity)
    x = np.random.default_rng(1).standard_normal((2, 4, 3, channels)).astype(np.float32)
    expected = np.maximum(_numpy_unpool(x) * _BN_SCALE, 0.0)
    np.testing.assert_allclose(model(x, training=False).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_up_projection_decoder_scales_by_two_per_block_and_resizes():
    features = np.ones((2, 3, 3, 16), np.float32)
    decoder = up_projection_decoder(16, filters=(8, 4, 4), out_channels=2, kernel_size=3)
    assert decoder(features).shape == (2, 24, 24, 2)
    resized = up_projection_decoder(16, filters=(8, 4), out_channels=1, kernel_size=5, output_size=10)
    assert resized(features).shape == (2, 10, 10, 1)


def test_mirrored_decoder_returns_an_image_of_the_encoder_input_size():
    decoder = mirrored_resnet_decoder(code_dim=12, image_size=64, width=4)
    out = decoder(np.zeros((3, 12), np.float32))
    assert out.shape == (3, 64, 64, 3) and out.dtype == tf.float32
    # one up-projection per strided stage, one for the max pool, then the stem's unpool + 7x7 conv
    names = {layer.name for layer in decoder.layers}
    assert {"mirror.layer4.0", "mirror.layer3.0", "mirror.layer2.0", "mirror.pool1", "mirror.conv1"} <= names
    assert "mirror.layer4.1" in names and "mirror.layer1.0" in names


def test_decoders_reject_sizes_they_cannot_produce():
    with pytest.raises(ValueError, match="not a multiple of 32"):
        mirrored_resnet_decoder(8, 48, width=4)
    with pytest.raises(ValueError, match="basic-block"):
        mirrored_resnet_decoder(8, 64, width=4, depth=50)
    with pytest.raises(ValueError, match="at least one"):
        up_projection_decoder(8, filters=())
