"""RGB <-> Lab in TensorFlow against skimage.color (sRGB, D65, L in [0, 100])."""
import vvs_tf  # noqa: F401

import numpy as np
import pytest
import tensorflow as tf
from skimage import color

from vvs_tf.data.color import lab_to_rgb, rgb_to_lab, split_lab


def _colours():
    rng = np.random.default_rng(0)
    pixels = rng.random((3, 5, 7, 3)).astype(np.float32)
    # Black, white, primaries and very dark colours that sit in the linear parts of both curves.
    special = np.array([[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1],
                        [0.01, 0.02, 0.03], [0.04, 0.0, 0.5]], np.float32)
    pixels[0, 0] = special
    return pixels


def test_rgb_to_lab_matches_skimage():
    rgb = _colours()
    expected = color.rgb2lab(rgb.astype(np.float64))
    np.testing.assert_allclose(rgb_to_lab(rgb).numpy(), expected, atol=2e-3)
    lightness, ab = split_lab(rgb)
    np.testing.assert_allclose(lightness.numpy()[..., 0], expected[..., 0], atol=2e-3)
    np.testing.assert_allclose(ab.numpy(), expected[..., 1:], atol=2e-3)


def test_white_and_black_have_the_reference_values():
    # White is (100, 0, 0) up to the 6-digit rounding of the sRGB matrix (a, b ~ 5e-3).
    lab = rgb_to_lab(np.array([[1, 1, 1], [0, 0, 0]], np.float32)).numpy()
    np.testing.assert_allclose(lab, [[100, 0, 0], [0, 0, 0]], atol=1e-2)


def test_lab_to_rgb_inverts_and_matches_skimage():
    rgb = _colours()
    lab = color.rgb2lab(rgb.astype(np.float64))
    np.testing.assert_allclose(lab_to_rgb(lab.astype(np.float32)).numpy(), color.lab2rgb(lab),
                               atol=1e-4)
    np.testing.assert_allclose(lab_to_rgb(rgb_to_lab(rgb)).numpy(), rgb, atol=1e-4)


def test_out_of_gamut_lab_is_clipped_like_skimage():
    lab = np.array([[50.0, 120.0, -120.0], [95.0, -100.0, 100.0]], np.float32)
    np.testing.assert_allclose(lab_to_rgb(lab).numpy(), color.lab2rgb(lab.astype(np.float64)),
                               atol=1e-4)


def test_gradients_are_finite_at_black():
    x = tf.Variable(np.zeros((1, 2, 2, 3), np.float32))
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(rgb_to_lab(x)) + tf.reduce_sum(lab_to_rgb(rgb_to_lab(x)))
    assert np.all(np.isfinite(tape.gradient(total, x).numpy()))


def test_wrong_channel_count_is_rejected():
    with pytest.raises(ValueError, match="3 channels"):
        rgb_to_lab(np.zeros((2, 4), np.float32))
