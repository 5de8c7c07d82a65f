"""Optimal stimuli find the known optimum of a linear channel (and raise a real network's
response); trajectories measure every kept checkpoint of a run, in order."""
import vvs_tf  # noqa: F401

import keras
import numpy as np
import pytest

from vvs_tf.analysis.optimal_stimuli import frequency_scale, optimal_stimuli
from vvs_tf.analysis.trajectories import orientation_measure, trajectory


def _colour_channels(size=24):
    """Channel 0 = mean(R - G), channel 1 = mean(B): their best images in [0, 1] are known."""
    inputs = keras.Input((size, size, 3))
    conv = keras.layers.Conv2D(2, 1, use_bias=False)
    out = conv(inputs)
    conv.set_weights([np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])[None, None]])
    return keras.Model(inputs, {"colour": out})


def test_a_linear_channels_optimum_saturates_the_right_colours():
    images, responses = optimal_stimuli(_colour_channels(), "colour", [0, 1], seed=1)  # 512 steps
    red, green, blue = (images[..., c].mean(axis=(1, 2)) for c in range(3))
    assert red[0] > 0.9 and green[0] < 0.1  # R - G: red up, green down
    assert blue[1] > 0.9  # B: blue up (red and green do not matter)
    assert responses[0] > 0.8 and responses[1] > 0.9
    assert images.min() >= 0 and images.max() <= 1


def test_optimisation_raises_a_resnet_channels_response():
    from vvs_tf.models.resnet import build_resnet

    keras.utils.set_random_seed(0)
    net = build_resnet(18, 4, 32)
    _, before = optimal_stimuli(net, "layer2.0", list(range(8)), steps=1, seed=0)
    alive = np.argsort(before)[-2:]  # the most active: silent ReLU channels get no gradient
    assert np.all(before[alive] > 0)
    _, after = optimal_stimuli(net, "layer2.0", alive, steps=60, seed=0)
    assert np.all(after > 1.5 * before[alive]), (before[alive], after)


def test_frequency_scale_is_one_over_frequency():
    scale = frequency_scale(8)
    assert scale.shape == (8, 5)
    assert scale[0, 0] == 8.0  # DC: capped at 1 / (1 / size)
    np.testing.assert_allclose(scale[0, 2], 4.0)  # f = 2 / 8
    np.testing.assert_allclose(scale[3, 4], 1 / np.hypot(3 / 8, 4 / 8), rtol=1e-6)


def test_bad_requests_are_refused():
    net = _colour_channels()
    with pytest.raises(ValueError, match="unknown layer 'nope'"):
        optimal_stimuli(net, "nope", [0], steps=1)
    with pytest.raises(ValueError, match=r"channels must be a non-empty list in \[0, 2\)"):
        optimal_stimuli(net, "colour", [2], steps=1)


@pytest.mark.slow  # ~15 s: a 3-epoch tiny run, then each checkpoint restored
def test_trajectory_measures_every_kept_checkpoint_in_order(tmp_path):
    from vvs_tf.config import tiny, base_config
    from vvs_tf.train import Trainer

    config = tiny(base_config("supervised"))
    config.model.width = 4
    config.data.num_images = 320
    config.train.epochs = 3
    config.train.keep_checkpoints = 10
    Trainer(config, str(tmp_path)).run()
    seen = []

    def first_kernel_norm(network):
        seen.append(network)
        return float(np.linalg.norm(network.get_layer("conv1.conv").kernel.numpy()))

    rows = trajectory(str(tmp_path), {"norm": first_kernel_norm,
                                      "conv1 circular variance": orientation_measure("conv1")})
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    norms = [row["norm"] for row in rows]
    assert len(set(norms)) == 3  # three different networks, the weights of each epoch
    assert all(0.0 <= row["conv1 circular variance"] <= 1.0 for row in rows)
