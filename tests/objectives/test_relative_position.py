"""Relative position: pairs against NumPy slices, bad configs, a few training steps."""
import vvs_tf  # noqa: F401

import keras
import numpy as np
import pytest
import tensorflow as tf

from tiny_steps import assert_trains, build, standard_batch, tiny_config
from vvs_tf.objectives.patches import check_grid, extract_grid, grid_extent
from vvs_tf.objectives.relative_position import pick_pairs

# raster order of the 8 neighbours, centre (1, 1) skipped
NEIGHBOURS = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1), (2, 2)]


def test_pairs_are_the_centre_and_the_labelled_neighbour():
    size, patch, gap = 26, 6, 2
    images = np.random.default_rng(0).uniform(size=(8, size, size, 3)).astype(np.float32)
    labels = np.arange(8)
    centre, neighbour = pick_pairs(extract_grid(tf.constant(images), 3, patch, gap), tf.constant(labels))
    offset = (size - (3 * patch + 2 * gap)) // 2
    def cut(b, i, j):
        y, x = offset + i * (patch + gap), offset + j * (patch + gap)
        return images[b, y:y + patch, x:x + patch]

    for b, label in enumerate(labels):
        np.testing.assert_array_equal(centre.numpy()[b], cut(b, 1, 1))
        np.testing.assert_array_equal(neighbour.numpy()[b], cut(b, *NEIGHBOURS[label]))


def test_configs_that_cannot_work_fail_before_training():
    config = tiny_config("relative_position", width=4)
    config.objective.patch_size = 22  # 3 * 22 + 2 * 2 + 2 * 2 = 74 > 64
    with pytest.raises(ValueError, match="spans 74 px, more than the 64-px image"):
        build(config)
    config = tiny_config("relative_position", width=4)
    config.model.input_size = 64
    with pytest.raises(ValueError, match="model.input_size=None"):
        build(config)


@pytest.mark.slow
def test_tiny_relative_position_lowers_its_loss():
    config = tiny_config("relative_position")
    assert_trains(config, standard_batch(config), steps=3, optimizer=keras.optimizers.Adam(1e-3))


def test_full_scale_grid_fits_the_224_px_crop():
    import importlib

    config = importlib.import_module("configs.imagenet.relative_position").get_config()
    cfg = config.objective
    check_grid(config.data.image_size, 3, cfg.patch_size, cfg.gap, cfg.jitter)
    assert grid_extent(3, cfg.patch_size, cfg.gap) + 2 * cfg.jitter == 220
