"""CPC: InfoNCE against NumPy, a causal context, bad configs, a few training steps."""
import vvs_tf  # noqa: F401

import keras
import numpy as np
import pytest
import tensorflow as tf

from tiny_steps import assert_trains, build, standard_batch, tiny_config
from vvs_tf.objectives.cpc import cpc_loss
from vvs_tf.objectives.patches import grid_extent


def test_info_nce_matches_numpy_over_all_patches_of_the_batch():
    rng = np.random.default_rng(0)
    batch, grid, dim = 2, 4, 5
    codes = rng.standard_normal((batch, grid, grid, dim))
    predictions = {k: rng.standard_normal((batch, grid - k, grid, dim)) for k in (1, 2)}
    flat = codes.reshape(-1, dim)
    losses, hits = [], []
    for k, pred in predictions.items():
        for b in range(batch):
            for i in range(grid - k):
                for j in range(grid):
                    logits = flat @ pred[b, i, j]
                    true = (b * grid + i + k) * grid + j
                    losses.append(np.log(np.exp(logits).sum()) - logits[true])
                    hits.append(logits.argmax() == true)
    loss, accuracy = cpc_loss(tf.constant(codes), {k: tf.constant(v) for k, v in predictions.items()})
    np.testing.assert_allclose(loss.numpy(), np.mean(losses), rtol=1e-5)
    assert accuracy.numpy() == pytest.approx(np.mean(hits))


def test_context_of_row_i_ignores_the_rows_below():
    objective = build(tiny_config("cpc", width=4))
    codes = np.random.default_rng(1).standard_normal((2, 7, 7, 32)).astype(np.float32)
    changed = codes.copy()
    changed[:, 4:] += 5.0
    before = objective.contexts(tf.constant(codes), training=False).numpy()
    after = objective.contexts(tf.constant(changed), training=False).numpy()
    np.testing.assert_allclose(after[:, :4], before[:, :4], rtol=1e-5, atol=1e-6)
    assert np.abs(after[:, 4:] - before[:, 4:]).max() > 1e-3


def test_configs_that_cannot_work_fail_before_training():
    config = tiny_config("cpc", width=4)
    config.objective.patch_size = 20  # 20 + 6 * 12 = 92 > 64
    with pytest.raises(ValueError, match="spans 92 px"):
        build(config)
    config = tiny_config("cpc", width=4)
    config.objective.prediction_steps = 7
    with pytest.raises(ValueError, match="prediction_steps=7"):
        build(config)


@pytest.mark.slow
def test_tiny_cpc_lowers_its_loss():
    config = tiny_config("cpc")
    assert_trains(config, standard_batch(config), steps=3, optimizer=keras.optimizers.Adam(1e-3))


def test_full_scale_grid_is_7x7_patches_of_64_px_tiling_256_px():
    import importlib

    config = importlib.import_module("configs.imagenet.cpc").get_config()
    cfg = config.objective
    assert (cfg.grid, cfg.patch_size, config.data.image_size) == (7, 64, 256)
    assert grid_extent(cfg.grid, cfg.patch_size, cfg.gap) == 256
