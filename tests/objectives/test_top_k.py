"""Exact top-k through a sampled bound (objectives/top_k.py), its gradient, and LA on that path."""
import vvs_tf  # noqa: F401

import numpy as np
import pytest
import tensorflow as tf

from vvs_tf.objectives import top_k
from vvs_tf.objectives.local_aggregation import local_aggregation_loss


def _numpy_top_sets(scores, k):
    return [set(np.argpartition(-row, k - 1)[:k]) for row in scores]


def _sets(ids):
    return [set(row) for row in np.asarray(ids)]


def test_sampled_path_is_taken_only_for_wide_rows_and_dynamic_shapes():
    assert top_k.uses_sampled_bound(100_000, 4096)
    assert not top_k.uses_sampled_bound(2048, 512)
    assert not top_k.uses_sampled_bound(100_000, 4096, dynamic_shapes=False)


@pytest.mark.parametrize("dynamic_shapes", [True, False])
def test_top_k_ids_equal_numpy_sets(dynamic_shapes):
    scores = np.random.default_rng(0).normal(size=(5, 4096)).astype(np.float32)
    values, ids = top_k.top_k(tf.constant(scores), 64, dynamic_shapes)
    assert ids.shape == (5, 64)
    assert _sets(ids) == _numpy_top_sets(scores, 64)
    np.testing.assert_array_equal(values, np.take_along_axis(scores, ids.numpy(), axis=1))


def test_top_k_ids_exact_when_the_sample_misses_the_top_scores():
    # Every column the stride samples holds a low score, so the sampled bound is far too high for
    # rows 0 and 1 (fewer than k scores reach it): the function must fall back to a full top_k.
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(3, 4096)).astype(np.float32)
    scores[:2, ::top_k.SAMPLE_STRIDE] = 10.0 + rng.random((2, 4096 // top_k.SAMPLE_STRIDE))
    scores[:2, 1::top_k.SAMPLE_STRIDE] = 20.0 + rng.random((2, 4096 // top_k.SAMPLE_STRIDE))
    k = 4096 // top_k.SAMPLE_STRIDE * 2  # the top-k are exactly the two planted phases
    values, ids = top_k.top_k(tf.constant(scores), k)
    assert _sets(ids) == _numpy_top_sets(scores, k)
    np.testing.assert_array_equal(values, np.take_along_axis(scores, ids.numpy(), axis=1))


def _la_numpy(logits, labels, index, k):
    losses, counts = [], []
    for b, row in enumerate(logits):
        background = np.argpartition(-row, k - 1)[:k]
        close = background[(labels[:, background] == labels[:, index[b], None]).any(0)]
        losses.append(-np.log(np.exp(row[close]).sum() / np.exp(row[background]).sum() + 1e-7))
        counts.append(len(close))
    return np.mean(losses), np.mean(counts)


def test_local_aggregation_on_the_sampled_path_equals_brute_force_and_full_top_k():
    rng = np.random.default_rng(2)
    n, k, dim = 4096, 64, 16
    v = rng.normal(size=(6, dim))
    bank = rng.normal(size=(n, dim))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    bank /= np.linalg.norm(bank, axis=1, keepdims=True)
    logits = (v @ bank.T / 0.07).astype(np.float32)
    labels = rng.integers(0, 40, size=(3, n))
    index = rng.choice(n, 6, replace=False)
    expected_loss, expected_close = _la_numpy(logits, labels, index, k)
    assert top_k.uses_sampled_bound(n, k)

    def loss_and_grad(dynamic_shapes):
        variable = tf.Variable(logits)
        with tf.GradientTape() as tape:
            loss, close = local_aggregation_loss(variable, k, tf.constant(labels),
                                                 tf.constant(index), dynamic_shapes)
        return loss.numpy(), close.numpy(), tape.gradient(loss, variable)

    loss, close, grad = loss_and_grad(True)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-5)
    assert close == pytest.approx(expected_close)
    _, _, full_grad = loss_and_grad(False)
    np.testing.assert_allclose(tf.convert_to_tensor(grad).numpy(),
                               tf.convert_to_tensor(full_grad).numpy(), atol=1e-7)


@pytest.mark.parametrize("dynamic_shapes", [True, False])
@pytest.mark.parametrize("dtype", [tf.float32, tf.float16])
def test_top_k_values_gradient_equals_that_of_gathering_the_ids(dtype, dynamic_shapes):
    rng = np.random.default_rng(3)
    scores = tf.constant(rng.normal(size=(4, 1024)), dtype)
    weights = tf.constant(rng.normal(size=(4, 64)), dtype)
    assert top_k.uses_sampled_bound(1024, 64, dynamic_shapes) == dynamic_shapes

    with tf.GradientTape(persistent=True) as tape:
        tape.watch(scores)
        values, ids = top_k.top_k(scores, 64, dynamic_shapes)
        loss = tf.reduce_sum(tf.cast(values * weights, tf.float32) ** 2)
        gathered = tf.gather(scores, ids, batch_dims=1)
        expected_loss = tf.reduce_sum(tf.cast(gathered * weights, tf.float32) ** 2)
    grad = tf.convert_to_tensor(tape.gradient(loss, scores)).numpy()
    expected = tf.convert_to_tensor(tape.gradient(expected_loss, scores)).numpy()
    np.testing.assert_array_equal(values, gathered)
    np.testing.assert_allclose(grad, expected, rtol=1e-6)
    # 64 non-zero gradient entries per row, exactly at the selected ids.
    assert [set(np.flatnonzero(row)) for row in grad] == _sets(ids)
