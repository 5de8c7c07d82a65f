"""MoCo v2: the queue and the key encoder's momentum update follow their formulas, the loss equals
NumPy's InfoNCE over [k+, queue], training lowers it, and configs that cannot work are refused."""
import vvs_tf  # noqa: F401

import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from vvs_tf.config import base_config, tiny, validate
from vvs_tf.objectives import DataInfo, create_objective
from vvs_tf.objectives.moco import check_queue, enqueue

NUM, SIZE = 8, 32


def _config(**objective):
    c = tiny(base_config("moco"))
    c.model.width = 8
    c.train.batch_size = NUM
    c.objective.queue_size = 4 * NUM
    c.objective.key_momentum = 0.9
    for key, value in objective.items():
        c.objective[key] = value
    return c


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    base = rng.random((NUM, SIZE, SIZE, 3), dtype=np.float32)
    second = np.clip(base + rng.normal(0, 0.05, base.shape), 0, 1).astype(np.float32)
    return {"views": tf.constant(np.stack([base, second], 1)), "index": tf.range(NUM),
            "label": tf.zeros([NUM], tf.int32)}


def _moco(**objective):
    keras.utils.set_random_seed(0)
    moco = create_objective(_config(**objective), DataInfo(4 * NUM, 1, SIZE))
    moco.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    return moco


def _key_params(moco):
    return [k.numpy() for k, _ in moco._ema_pairs()]


def test_key_encoder_starts_as_a_copy_and_is_not_trained():
    moco = _moco()
    for key, query in moco._ema_pairs():
        np.testing.assert_array_equal(key.numpy(), query.numpy())
    trained = {id(v) for v in moco.trainable_variables}
    assert not trained & {id(v) for v in moco.key_backbone.weights + moco.key_head.weights}
    parameters = moco.backbone.trainable_weights + moco.head.trainable_weights
    assert len(moco._ema_pairs()) == len(parameters)


def test_one_step_updates_queue_and_key_encoder_by_their_formulas():
    moco = _moco()
    batch = _batch()
    queue0, m = moco.queue.numpy(), 0.9
    # The keys the step must enqueue: the key encoder (still equal to the query encoder) in
    # training mode on the second views. Its BN moving statistics are restored afterwards.
    saved = [v.numpy() for v in moco.key_backbone.weights + moco.key_head.weights]
    expected_keys = moco.project(moco.key_backbone, moco.key_head, batch["views"][:, 1],
                                 training=True).numpy()
    for v, value in zip(moco.key_backbone.weights + moco.key_head.weights, saved):
        v.assign(value)
    keys0 = _key_params(moco)

    moco.train_step(batch)

    queries1 = [q.numpy() for _, q in moco._ema_pairs()]
    for key, k0, q1 in zip(_key_params(moco), keys0, queries1):
        np.testing.assert_allclose(key, m * k0 + (1 - m) * q1, rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(k0, q1) for k0, q1 in zip(keys0, queries1))  # queries did move
    queue = moco.queue.numpy()
    np.testing.assert_allclose(queue[:NUM], expected_keys, atol=1e-5)
    np.testing.assert_array_equal(queue[NUM:], queue0[NUM:])
    assert int(moco.queue_pointer.numpy()) == NUM


def test_enqueue_overwrites_the_oldest_rows_and_wraps():
    queue = tf.Variable(np.zeros((6, 2), np.float32))
    pointer = tf.Variable(tf.constant(0, tf.int64))
    for step in range(4):  # 4 batches of 2 rows into 6 rows: the 4th overwrites rows 0-1
        enqueue(queue, pointer, tf.fill([2, 2], float(step + 1)))
    np.testing.assert_array_equal(queue.numpy()[:, 0], [4, 4, 2, 2, 3, 3])
    assert int(pointer.numpy()) == 2


def test_loss_is_infonce_over_the_positive_key_and_the_queue():
    moco = _moco(temperature=0.25)
    batch = _batch(1)
    loss, _, all_keys = moco.compute_loss(batch, training=False)
    views = batch["views"]
    q = moco.project(moco.backbone, moco.head, views[:, 0], False).numpy().astype(np.float64)
    k = moco.project(moco.key_backbone, moco.key_head, views[:, 1], False).numpy()
    queue = moco.queue.numpy()
    logits = np.concatenate([np.sum(q * k, 1, keepdims=True), q @ queue.T], 1) / 0.25
    expected = np.mean(np.log(np.exp(logits).sum(1)) - logits[:, 0])
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(all_keys.numpy(), k, atol=1e-6)


def test_trains_without_nan_and_lowers_the_loss_on_a_fixed_batch():
    """Measured against the initial queue both times (the queue itself fills with this batch's
    keys during training, which makes the running loss incomparable)."""
    moco = _moco(queue_size=64 * NUM)
    batch = _batch(2)
    queue0 = moco.queue.numpy()
    before = float(moco.compute_loss(batch, training=True)[0])
    history = moco.fit(tf.data.Dataset.from_tensors(batch).repeat(), epochs=1, steps_per_epoch=8,
                       verbose=0).history
    assert np.isfinite(history["loss"][-1])
    moco.queue.assign(queue0)
    after = float(moco.compute_loss(batch, training=True)[0])
    assert after < before - 0.1, (before, after)


def test_configs_that_cannot_work_fail_before_training():
    with pytest.raises(ValueError, match="multiple of the global batch"):
        create_objective(_config(queue_size=4 * NUM + 1), DataInfo(4 * NUM, 1, SIZE))
    with pytest.raises(ValueError, match="key_momentum"):
        create_objective(_config(key_momentum=1.0), DataInfo(4 * NUM, 1, SIZE))
    with pytest.raises(ValueError, match="queue_size=100"):
        check_queue(100, 64)


@pytest.mark.parametrize("family", ["tiny", "imagenet"])
def test_configs_follow_the_recipe(family):
    c = importlib.import_module(f"configs.{family}.moco").get_config()
    validate(c)
    check_queue(c.objective.queue_size, c.train.batch_size)
    assert c.objective.temperature == pytest.approx(0.2)
    if family == "imagenet":
        assert (c.objective.queue_size, c.objective.key_momentum) == (65536, 0.999)
