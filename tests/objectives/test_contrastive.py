"""NT-Xent and MoCo's InfoNCE against NumPy, and the cross-replica NT-Xent (negatives from every
replica, gradients back to their replica) against the one-device loss and gradient."""
import vvs_tf  # noqa: F401

import numpy as np
import pytest
import tensorflow as tf
from replicas import fresh_mirrored_strategy

from vvs_tf.objectives.contrastive import (
    info_nce_loss, nt_xent_loss, queue_logits, replica_offset, two_views)


def _unit(rng, *shape):
    x = rng.standard_normal(shape)
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _nt_xent_numpy(a, b, tau):
    """Chen et al.'s definition: 2N anchors, positive = the other view, all 2N-2 others negative."""
    z = np.concatenate([a, b]).astype(np.float64)
    n = len(a)
    sim = z @ z.T / tau
    losses = []
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        others = [k for k in range(2 * n) if k != i]
        losses.append(-sim[i, j] + np.log(np.sum(np.exp(sim[i, others]))))
    return np.mean(losses)


@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_nt_xent_matches_numpy(tau):
    rng = np.random.default_rng(0)
    a, b = _unit(rng, 6, 5), _unit(rng, 6, 5)
    loss, accuracy = nt_xent_loss(tf.constant(a), tf.constant(b), tau)
    np.testing.assert_allclose(loss.numpy(), _nt_xent_numpy(a, b, tau), rtol=1e-5)
    assert 0.0 <= accuracy.numpy() <= 1.0


def test_nt_xent_accuracy_is_one_for_identical_views_of_distinct_images():
    a = np.eye(4, dtype=np.float32)
    loss, accuracy = nt_xent_loss(tf.constant(a), tf.constant(a), 0.1)
    assert accuracy.numpy() == 1.0
    np.testing.assert_allclose(loss.numpy(), _nt_xent_numpy(a, a, 0.1), rtol=1e-4, atol=1e-7)


def test_queue_infonce_matches_numpy():
    rng = np.random.default_rng(1)
    q, k, queue, tau = _unit(rng, 5, 8), _unit(rng, 5, 8), _unit(rng, 12, 8), 0.2
    logits = queue_logits(tf.constant(q), tf.constant(k), tf.constant(queue), tau)
    loss, _ = info_nce_loss(logits, tf.zeros([5], tf.int32))
    q64 = q.astype(np.float64)
    positive = np.sum(q64 * k, 1) / tau
    negatives = q64 @ queue.T / tau
    everything = np.concatenate([positive[:, None], negatives], 1)
    expected = np.mean(-positive + np.log(np.exp(everything).sum(1)))
    np.testing.assert_allclose(logits.numpy(), everything, rtol=1e-5)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)


def test_two_views_rejects_single_view_batches():
    with pytest.raises(ValueError, match=r"\[B,2,H,W,C\]"):
        two_views({"image": tf.zeros([2, 4, 4, 3])})


def _cpus():
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    assert len(cpus) >= 2, "tests/conftest.py should have split the CPU into two logical devices"
    return cpus


def _fresh_mirrored_strategy():
    return fresh_mirrored_strategy(_cpus()[:2])


def test_cross_replica_nt_xent_equals_one_device_loss_and_gradient():
    strategy = _fresh_mirrored_strategy()
    rng = np.random.default_rng(2)
    a, b, tau, n = _unit(rng, 8, 6), _unit(rng, 8, 6), 0.3, 4

    a_full, b_full = tf.constant(a), tf.constant(b)
    with tf.GradientTape() as tape:
        tape.watch([a_full, b_full])
        full_loss, _ = nt_xent_loss(a_full, b_full, tau)
    full_grads = tape.gradient(full_loss, [a_full, b_full])

    def replica_step():
        rid = tf.distribute.get_replica_context().replica_id_in_sync_group
        mine_a, mine_b = a_full[rid * n:(rid + 1) * n], b_full[rid * n:(rid + 1) * n]
        with tf.GradientTape() as replica_tape:
            replica_tape.watch([mine_a, mine_b])
            loss, _ = nt_xent_loss(mine_a, mine_b, tau)
            scaled = loss / 2.0  # as the shared train_step divides by the replica count
        grads = replica_tape.gradient(scaled, [mine_a, mine_b])
        return scaled, grads[0], grads[1], replica_offset(n)

    scaled, grad_a, grad_b, offsets = tf.function(lambda: strategy.run(replica_step))()
    unpack = strategy.experimental_local_results
    assert [int(o) for o in unpack(offsets)] == [0, n]
    np.testing.assert_allclose(sum(float(x) for x in unpack(scaled)), full_loss.numpy(), rtol=1e-5)
    np.testing.assert_allclose(np.concatenate(unpack(grad_a)), full_grads[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(np.concatenate(unpack(grad_b)), full_grads[1].numpy(), atol=1e-5)


# --- Two-view objectives (SimCLR, MoCo, Mean Teacher): two replicas = one device ------------
NUM_EXAMPLES, GLOBAL_BATCH, SIZE, CLASSES = 16, 8, 32, 4


def _contrastive_config(method):
    from vvs_tf.config import base_config, tiny

    c = tiny(base_config(method))
    c.model.width = 8
    c.model.sync_batchnorm = True
    c.train.batch_size = GLOBAL_BATCH
    if method == "moco":
        c.objective.queue_size = 4 * GLOBAL_BATCH
        c.objective.key_momentum = 0.9  # large enough EMA steps to see in three steps
    if method == "mean_teacher":
        c.objective.label_fraction = 0.5  # labelled and unlabelled images on both replicas
    return c


def _two_view_batches():
    rng = np.random.default_rng(3)
    base = rng.random((NUM_EXAMPLES, SIZE, SIZE, 3), dtype=np.float32)
    views = np.stack([base, np.clip(base + rng.normal(0, 0.05, base.shape), 0, 1)], 1)
    data = {"views": views.astype(np.float32), "index": np.arange(NUM_EXAMPLES),
            "label": np.arange(NUM_EXAMPLES, dtype=np.int32) % CLASSES}
    return tf.data.Dataset.from_tensor_slices(data).batch(GLOBAL_BATCH, drop_remainder=True)


def _train_contrastive(method, strategy, steps=2):
    import keras

    from vvs_tf.lars import LARS
    from vvs_tf.objectives import DataInfo, create_objective

    keras.utils.set_random_seed(0)
    with strategy.scope():
        objective = create_objective(_contrastive_config(method), DataInfo(NUM_EXAMPLES, CLASSES, SIZE))
        optimizer = (LARS(0.05, momentum=0.9, trust_coefficient=0.01) if method == "simclr"
                     else keras.optimizers.SGD(0.1, momentum=0.9))
        objective.compile(optimizer=optimizer)
    initial = [v.numpy() for v in objective.weights]
    objective.fit(_two_view_batches(), epochs=1, steps_per_epoch=steps, verbose=0)
    return objective, initial


@pytest.mark.slow  # ~20-30 s each: ResNet-18 traced on one device and on two replicas
@pytest.mark.parametrize("method", ["simclr", "moco", "mean_teacher"])
def test_two_replicas_match_one_device(method, float64_backbone):
    """Same global batch, same initial weights, two steps on one device and on two replicas.

    BatchNorm statistics would differ per replica, so both runs use global-batch BN
    (`model.sync_batchnorm`, also on the heads): then the replica split changes nothing
    mathematically, and the equality checks what distribution can break: negatives gathered from
    the other replica (SimCLR's 2N-2, MoCo's keys), gradients flowing back through the gather,
    the 1/replicas loss scaling, LARS on the summed gradient, MoCo's shuffled key encoder (the
    shuffle runs on two replicas only and must be undone exactly), its EMA and the order in which
    the global batch's keys enter the queue; Mean Teacher's labelled cross-entropy (summed over
    each replica's labelled images, divided by the global batch), consistency ramp and EMA.

    The backbone computes in float64 (as in tests/training/test_distribution.py). In float32,
    oneDNN picks convolution algorithms by batch size and CPU: one device's 16-image passes and
    the replicas' 8-image ones differed by ~1e-3 relative in the gradients, which BN amplifies to
    a few % of a step (MoCo failed 1e-4 on an AVX-512 machine). float64 convolutions are Eigen's
    on every CPU; the runs then agree to 3e-7 (measured: SimCLR 4e-8, MoCo 3e-7, MT 2e-14).
    """
    single, initial = _train_contrastive(method, tf.distribute.OneDeviceStrategy(_cpus()[0]))
    mirrored, _ = _train_contrastive(method, _fresh_mirrored_strategy())
    assert single.backbone.trainable_variables[0].dtype == "float64"
    moved = 0
    for a, b, start in zip(single.weights, mirrored.weights, initial):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-4, rtol=1e-4, err_msg=a.path)
        moved += not np.allclose(a.numpy(), start)
    assert moved > len(single.trainable_weights) // 2  # training did change the weights
    if method == "moco":
        assert int(mirrored.queue_pointer.numpy()) == 2 * GLOBAL_BATCH
        np.testing.assert_allclose(single.queue.numpy(), mirrored.queue.numpy(), atol=1e-4)
