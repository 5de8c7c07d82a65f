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


def test_two_replicas_score_against_the_global_batch_like_one_device():
    """Each replica's predictions are scored against the patches of every replica, so the summed
    replica losses and their gradients equal the one-device loss on the global batch."""
    from replicas import fresh_mirrored_strategy

    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    assert len(cpus) >= 2, "tests/conftest.py should have split the CPU into two logical devices"
    strategy = fresh_mirrored_strategy(cpus[:2])
    rng = np.random.default_rng(3)
    batch, grid, dim = 4, 3, 5
    codes = tf.constant(rng.standard_normal((batch, grid, grid, dim)), tf.float32)
    predicted = tf.constant(rng.standard_normal((batch, grid - 1, grid, dim)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch([codes, predicted])
        full_loss, _ = cpc_loss(codes, {1: predicted})
    full_grads = tape.gradient(full_loss, [codes, predicted])

    def replica_step():
        rid = tf.distribute.get_replica_context().replica_id_in_sync_group
        half = batch // 2
        mine_codes, mine_predicted = codes[rid * half:(rid + 1) * half], predicted[rid * half:(rid + 1) * half]
        with tf.GradientTape() as replica_tape:
            replica_tape.watch([mine_codes, mine_predicted])
            scaled = cpc_loss(mine_codes, {1: mine_predicted})[0] / 2.0
        return (scaled, *replica_tape.gradient(scaled, [mine_codes, mine_predicted]))

    scaled, grad_codes, grad_predicted = tf.function(lambda: strategy.run(replica_step))()
    unpack = strategy.experimental_local_results
    np.testing.assert_allclose(sum(float(x) for x in unpack(scaled)), full_loss.numpy(), rtol=1e-5)
    np.testing.assert_allclose(np.concatenate(unpack(grad_codes)), full_grads[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(np.concatenate(unpack(grad_predicted)), full_grads[1].numpy(), atol=1e-5)
