"""First-layer filter pictures and colour opponency, gratings and circular variance (closed forms),
and orientation selectivity telling an oriented filter from a round one."""
import vvs_tf  # noqa: F401

import keras
import numpy as np
import pytest

from vvs_tf.analysis.filters import colour_opponency, filter_grid
from vvs_tf.analysis.orientation import circular_variance, gratings, orientation_selectivity
from vvs_tf.evaluate.activations import KerasActivationModel


def test_filter_grid_scales_each_filter_around_grey_and_tiles_in_rows():
    kernel = np.zeros((3, 3, 3, 5))
    kernel[1, 1, 0, 0] = 2.0     # filter 0: one red weight
    kernel[0, 0, 2, 4] = -0.5    # filter 4: one negative blue weight (second row)
    grid = filter_grid(kernel, columns=4, pad=1)
    assert grid.shape == (2 * 4 - 1, 4 * 4 - 1, 3)
    np.testing.assert_allclose(grid[1, 1], [1.0, 0.5, 0.5])
    np.testing.assert_allclose(grid[4, 0], [0.5, 0.5, 0.0])
    assert np.all(grid[3, :] == 1.0)  # padding between the rows


def test_colour_opponency_of_achromatic_and_opponent_filters():
    rng = np.random.default_rng(0)
    pattern = rng.standard_normal((5, 5))
    kernel = np.stack([np.stack([pattern] * 3, -1),                      # achromatic
                       np.stack([pattern, -pattern, 0.3 * rng.standard_normal((5, 5))], -1)],
                      -1)
    values = colour_opponency(kernel)
    np.testing.assert_allclose(values[0], 1.0)
    assert values[1] < -0.2


def test_circular_variance_closed_forms():
    theta = np.linspace(0, np.pi, 8, endpoint=False)
    one = (np.arange(8) == 3).astype(float)[:, None]
    flat = np.ones((8, 1))
    cosine = (1 + np.cos(2 * (theta - 0.4)))[:, None]  # |sum r e^2it| = N/2, sum r = N
    np.testing.assert_allclose(circular_variance(np.hstack([one, flat, cosine]), theta),
                               [0.0, 1.0, 0.5], atol=1e-12)
    with pytest.raises(ValueError, match="non-negative"):
        circular_variance(-one, theta)


def test_gratings_vary_across_their_orientation_only():
    g = gratings(16, [0.0, np.pi / 2], [2], [0.0])[:, 0, 0, ..., 0]
    assert np.allclose(g[0], g[0][0:1, :])       # theta = 0: constant down each column
    assert np.allclose(g[1], g[1][:, 0:1])       # theta = pi/2: constant along each row
    assert g.min() >= 0 and g.max() <= 1


def _one_filter_network(weights, size=32):
    inputs = keras.Input((size, size, 3))
    conv = keras.layers.Conv2D(1, weights.shape[0], use_bias=False, activation="relu")
    out = conv(inputs)
    conv.set_weights([np.repeat(weights[:, :, None, None], 3, axis=2) / 3])
    return KerasActivationModel(keras.Model(inputs, {"conv": out}))


def test_an_oriented_filter_is_selective_and_a_round_one_is_not():
    y, x = np.mgrid[-5:6, -5:6].astype(float)
    edge = np.sin(2 * np.pi * x / 8.0) * np.exp(-x**2 / 8 - y**2 / 40)  # vertical, elongated
    round_ = np.exp(-(x**2 + y**2) / 2) - 0.5 * np.exp(-(x**2 + y**2) / 8)
    round_ -= round_.mean()  # centre-surround without a response to uniform light
    oriented = orientation_selectivity(_one_filter_network(edge), "conv", 32)
    isotropic = orientation_selectivity(_one_filter_network(round_), "conv", 32)
    assert oriented < 0.4 and isotropic > 0.95, (oriented, isotropic)
