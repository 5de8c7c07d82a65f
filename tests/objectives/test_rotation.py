"""Rotation: the four rotations against np.rot90, the loss against NumPy, a few training steps."""
import vvs_tf  # noqa: F401

import keras
import numpy as np
import pytest
import tensorflow as tf

from tiny_steps import assert_trains, standard_batch, tiny_config
from vvs_tf.objectives.base import classification_loss
from vvs_tf.objectives.rotation import rotate_four


def test_each_image_appears_in_all_four_rotations_with_its_label():
    images = np.random.default_rng(0).uniform(size=(3, 5, 5, 2)).astype(np.float32)
    rotated, labels = rotate_four(tf.constant(images))
    np.testing.assert_array_equal(labels.numpy(), np.repeat(np.arange(4), 3))
    for k in range(4):
        expected = np.rot90(images, k, axes=(1, 2))  # counter-clockwise, as tf.image.rot90
        np.testing.assert_array_equal(rotated.numpy()[3 * k:3 * k + 3], expected)


def test_classification_loss_matches_numpy_cross_entropy():
    rng = np.random.default_rng(1)
    logits, labels = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    loss, accuracy = classification_loss(tf.constant(logits), tf.constant(labels))
    np.testing.assert_allclose(loss.numpy(), -log_p[np.arange(6), labels].mean(), rtol=1e-6)
    assert accuracy.numpy() == pytest.approx(np.mean(logits.argmax(1) == labels))


@pytest.mark.slow
def test_tiny_rotation_lowers_its_loss():
    config = tiny_config("rotation")
    assert_trains(config, standard_batch(config), steps=3, optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
