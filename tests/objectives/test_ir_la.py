"""IR and LA losses, the memory-bank update and LA's neighbour sets against NumPy."""
import vvs_tf  # noqa: F401

import numpy as np
import pytest
import tensorflow as tf

from vvs_tf.objectives import memory_bank
from vvs_tf.objectives.instance_recognition import nce_loss
from vvs_tf.objectives.local_aggregation import local_aggregation_loss


def _unit(rng, *shape):
    x = rng.standard_normal(shape).astype(np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_nce_loss_matches_numpy_formula():
    rng = np.random.default_rng(0)
    n, k, tau = 1000, 16, 0.07
    v, bank = _unit(rng, 4, 8), _unit(rng, n, 8)
    pos_rows, noise_rows = np.array([1, 5, 7, 9]), rng.integers(0, n, k)
    z = 2876.9
    p_d = np.exp(np.sum(v * bank[pos_rows], 1) / tau) / z
    p_n = np.exp(v @ bank[noise_rows].T / tau) / z
    ln_data = np.log(p_d / (p_d + k / n))
    ln_noise = np.log((k / n) / (p_n + k / n))
    expected = -(ln_data.sum() + ln_noise.sum()) / 4
    got = nce_loss(tf.constant(np.sum(v * bank[pos_rows], 1) / tau),
                   tf.constant(v @ bank[noise_rows].T / tau), np.log(z), n)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)


def _la_numpy(v, bank, labels, index, k, tau):
    dots = v @ bank.T / tau
    losses, close_counts, neighbour_sets = [], [], []
    for b in range(len(v)):
        background = np.argsort(-dots[b])[:k]
        close_all = np.nonzero((labels == labels[:, index[b]][:, None]).any(0))[0]
        both = np.intersect1d(background, close_all)
        losses.append(-np.log(np.exp(dots[b, both]).sum() / np.exp(dots[b, background]).sum() + 1e-7))
        close_counts.append(len(both))
        neighbour_sets.append((set(background), set(both)))
    return np.mean(losses), np.mean(close_counts), neighbour_sets


def test_local_aggregation_loss_and_neighbour_sets_match_brute_force():
    rng = np.random.default_rng(1)
    n, k, tau = 200, 32, 0.07
    v, bank = _unit(rng, 6, 16), _unit(rng, n, 16)
    labels = rng.integers(0, 7, size=(3, n))  # H=3 clusterings of 7 clusters
    index = np.array([0, 3, 10, 50, 120, 199])
    expected_loss, expected_close, _ = _la_numpy(v, bank, labels, index, k, tau)
    loss, close = local_aggregation_loss(tf.constant(v @ bank.T / tau), k, tf.constant(labels),
                                         tf.constant(index))
    np.testing.assert_allclose(loss.numpy(), expected_loss, rtol=1e-5)
    assert close.numpy() == pytest.approx(expected_close)


def test_local_aggregation_neighbour_sets_equal_numpy_sets():
    rng = np.random.default_rng(2)
    n, k = 120, 10
    v, bank = _unit(rng, 4, 8), _unit(rng, n, 8)
    labels = rng.integers(0, 5, size=(2, n))
    index = np.array([2, 4, 8, 16])
    _, _, sets = _la_numpy(v, bank, labels, index, k, 1.0)
    logits = tf.constant(v @ bank.T)
    _, ids = tf.math.top_k(logits, k)
    own = tf.gather(labels, index, axis=1)[:, :, None]
    close = tf.reduce_any(tf.gather(labels, ids, axis=1) == own, 0).numpy()
    for b, (background, both) in enumerate(sets):
        assert set(ids.numpy()[b]) == background
        assert set(ids.numpy()[b][close[b]]) == both


def test_local_aggregation_gradient_is_finite_when_nothing_is_close():
    logits = tf.Variable(tf.random.normal([2, 20]))
    labels = tf.constant(np.stack([np.arange(20)]))  # every row its own cluster
    index = tf.constant([100, 101]) % 20  # own rows, possibly outside the top-k
    with tf.GradientTape() as tape:
        loss, _ = local_aggregation_loss(logits * 0.0 - tf.one_hot(index, 20) * 50.0, 5, labels, index)
    grad = tape.gradient(loss, logits)
    assert np.isfinite(loss.numpy()) and np.all(np.isfinite(grad.numpy()))
    assert loss.numpy() == pytest.approx(-np.log(1e-7), rel=1e-3)


def test_memory_bank_update_follows_formula():
    rng = np.random.default_rng(3)
    bank0 = _unit(rng, 10, 4)
    bank = tf.Variable(bank0)
    index, v = np.array([2, 7]), _unit(rng, 2, 4)
    memory_bank.update_rows(bank, tf.constant(index), tf.constant(v), 0.5)
    expected = bank0.copy()
    mixed = 0.5 * bank0[index] + 0.5 * v
    expected[index] = mixed / np.linalg.norm(mixed, axis=1, keepdims=True)
    np.testing.assert_allclose(bank.numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("compiled", [False, True])
def test_bank_reads_taken_before_an_update_keep_the_old_rows(compiled):
    """Updates leave the bank out of copy-on-read mode (reads share its buffer), so an update
    while a read is alive must copy first: the read keeps the old rows, the bank gets the new."""
    rng = np.random.default_rng(4)
    bank0 = _unit(rng, 10, 4)
    bank = tf.Variable(bank0)
    updates = [(np.array([1, 5]), _unit(rng, 2, 4)), (np.array([5, 9]), _unit(rng, 2, 4))]

    def read_then_update(index, vectors):
        before = bank.read_value()
        memory_bank.update_rows(bank, index, vectors, 0.5)
        return before, bank.read_value()

    step = tf.function(read_then_update) if compiled else read_then_update
    expected = bank0.copy()
    for index, vectors in updates:  # the second update runs with the mode already switched off
        before, after = step(tf.constant(index), tf.constant(vectors))
        np.testing.assert_array_equal(before.numpy(), expected)
        mixed = 0.5 * expected[index] + 0.5 * vectors
        expected[index] = mixed / np.linalg.norm(mixed, axis=1, keepdims=True)
        np.testing.assert_allclose(after.numpy(), expected, rtol=1e-6)
        np.testing.assert_allclose(bank.numpy(), expected, rtol=1e-6)
        expected = bank.numpy()  # bit-exact from here: the next read must equal it


def test_exact_softmax_loss_and_gradient_match_numpy():
    from vvs_tf.objectives.instance_recognition import exact_softmax_loss

    rng = np.random.default_rng(4)
    v, bank, index = _unit(rng, 3, 8), _unit(rng, 50, 8), np.array([4, 0, 49])
    logits = v @ bank.T / 0.1
    expected = np.mean(np.log(np.exp(logits).sum(1)) - logits[np.arange(3), index])
    embeddings = tf.Variable(v)
    with tf.GradientTape() as tape:
        got = exact_softmax_loss(embeddings, tf.constant(bank), tf.constant(index), 0.1)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)
    # d/dv_i = (sum_j p_ij m_j - m_index(i)) / (tau B), p_i the softmax over the bank.
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected_grad = (p @ bank - bank[index]) / (0.1 * 3)
    np.testing.assert_allclose(tape.gradient(got, embeddings).numpy(), expected_grad, rtol=1e-4,
                               atol=1e-7)
