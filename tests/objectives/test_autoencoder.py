"""AutoEncoder: the loss against NumPy, a few training steps, and image sizes the decoder cannot make."""
import vvs_tf  # noqa: F401

import keras
import numpy as np
import pytest
import tensorflow as tf

from tiny_steps import assert_trains, build, standard_batch, tiny_config
from vvs_tf.objectives.autoencoder import autoencoder_loss


def test_loss_is_pixel_mse_plus_weighted_l1_norm_of_the_code():
    rng = np.random.default_rng(0)
    images, recon = rng.uniform(size=(3, 4, 4, 3)), rng.uniform(size=(3, 4, 4, 3))
    hidden = rng.standard_normal((3, 128))
    expected = np.mean([np.mean((recon[b] - images[b]) ** 2) for b in range(3)])
    expected += 1e-4 * np.mean([np.sum(np.abs(hidden[b])) for b in range(3)])
    loss, mse, l1 = autoencoder_loss(tf.constant(images), tf.constant(recon), tf.constant(hidden), 1e-4)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(l1.numpy(), np.abs(hidden).sum(1).mean(), rtol=1e-6)


def test_reconstruction_has_the_image_shape_and_the_code_is_128_d():
    objective = build(tiny_config("autoencoder", width=4))
    images = tf.zeros([2, 32, 32, 3])
    hidden = objective.encode(images)
    assert hidden.shape == (2, 128)
    assert objective.decoder(hidden).shape == (2, 32, 32, 3)


@pytest.mark.slow
def test_tiny_autoencoder_lowers_its_loss():
    config = tiny_config("autoencoder")
    assert_trains(config, standard_batch(config), steps=3, optimizer=keras.optimizers.Adam(1e-3))


def test_image_size_that_is_not_a_multiple_of_32_fails():
    config = tiny_config("autoencoder", width=4)
    config.data.image_size = config.model.input_size = 40
    with pytest.raises(ValueError, match="multiple of 32"):
        build(config)
