"""Colorization: the 313 bins, soft-encoding and cross-entropy against NumPy, Lab targets against
scikit-image, a few training steps."""
import vvs_tf  # noqa: F401

import keras
import numpy as np
import pytest
import tensorflow as tf
from skimage.color import rgb2lab

from tiny_steps import assert_trains, build, smooth_images, standard_batch, tiny_config
from vvs_tf.objectives.colorization import (ab_bins, colorization_loss, lightness, soft_encode,
                                            target_ab)

# Zhang et al.'s released in-gamut bins (pts_in_hull.npy): for each a, the b values from..to, step 10.
PUBLISHED_B_RANGES = {
    -90: (50, 90), -80: (20, 90), -70: (0, 90), -60: (-20, 90), -50: (-30, 100), -40: (-40, 100),
    -30: (-50, 100), -20: (-50, 100), -10: (-60, 100), 0: (-70, 100), 10: (-80, 90), 20: (-80, 90),
    30: (-90, 90), 40: (-100, 90), 50: (-100, 80), 60: (-110, 80), 70: (-110, 80), 80: (-110, 70),
    90: (-110, 70), 100: (-90, 0),
}


def test_the_313_published_bins_are_recovered_from_the_srgb_gamut():
    published = {(a, b) for a, (lo, hi) in PUBLISHED_B_RANGES.items() for b in range(lo, hi + 1, 10)}
    bins = ab_bins()
    assert len(published) == 313 and bins.shape == (313, 2)
    assert set(map(tuple, bins.astype(int).tolist())) == published


def test_every_srgb_colour_lies_within_half_a_bin_of_a_bin():
    rgb = np.random.default_rng(0).uniform(size=(4000, 1, 3))
    ab = rgb2lab(rgb)[:, 0, 1:]
    nearest = np.abs(ab[:, None, :] - ab_bins()[None]).max(-1).min(1)
    assert nearest.max() <= 5.0 + 1e-6


def _numpy_soft_encoding(ab, bins, k=5, sigma=5.0):
    d2 = ((ab[:, None, :] - bins[None]) ** 2).sum(-1)
    dense = np.zeros_like(d2)
    for n in range(len(ab)):
        nearest = np.argsort(d2[n])[:k]
        w = np.exp(-d2[n, nearest] / (2 * sigma**2))
        dense[n, nearest] = w / w.sum()
    return dense


def test_soft_encoding_is_gaussian_weights_on_the_5_nearest_bins():
    bins = ab_bins()
    ab = np.random.default_rng(1).uniform(-60, 60, size=(50, 2)).astype(np.float32)
    indices, weights = soft_encode(tf.constant(ab), bins)
    dense = np.zeros((50, len(bins)))
    np.put_along_axis(dense, indices.numpy(), weights.numpy(), axis=1)
    np.testing.assert_allclose(dense, _numpy_soft_encoding(ab, bins), atol=1e-5)


def test_loss_is_cross_entropy_against_the_soft_targets():
    bins = ab_bins()
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((2, 3, 3, len(bins))).astype(np.float32)
    ab = rng.uniform(-50, 50, size=(2, 3, 3, 2)).astype(np.float32)
    targets = _numpy_soft_encoding(ab.reshape(-1, 2), bins).reshape(2, 3, 3, -1)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -(targets * log_p).sum(-1).mean()
    np.testing.assert_allclose(colorization_loss(tf.constant(logits), tf.constant(ab), bins).numpy(),
                               expected, rtol=1e-5)


def test_inputs_and_targets_match_scikit_image_lab():
    images = smooth_images(2, 16)
    lab = rgb2lab(images)
    np.testing.assert_allclose(lightness(tf.constant(images)).numpy()[..., 0], lab[..., 0] / 100, atol=2e-4)
    blocks = lab[..., 1:].reshape(2, 2, 8, 2, 8, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(target_ab(tf.constant(images)).numpy(), blocks, atol=2e-2)


def test_logits_come_at_one_eighth_resolution_from_the_l_channel():
    config = tiny_config("colorization")
    objective = build(config)
    assert objective.backbone.input_shape[-1] == 1
    features = objective.backbone(tf.zeros([2, 32, 32, 1]))[objective.backbone.readout_names[-1]]
    assert objective.head(features).shape == (2, 4, 4, 313)
    assert objective.embed(tf.zeros([2, 32, 32, 3])).shape[0] == 2


@pytest.mark.slow
def test_tiny_colorization_lowers_its_loss():
    config = tiny_config("colorization")
    assert_trains(config, standard_batch(config), steps=3, optimizer=keras.optimizers.Adam(1e-3))
