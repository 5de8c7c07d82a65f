"""Exact top-k through a sampled bound (objectives/top_k.py) on both of its CPU paths (the C++ op
and stock TensorFlow ops), its gradient, and LA on those paths."""
import vvs_tf  # noqa: F401

import numpy as np
import pytest
import tensorflow as tf

from vvs_tf.objectives import top_k
from vvs_tf.objectives.local_aggregation import local_aggregation_loss


NO_COMPILER = "no C++ compiler could build vvs_tf/custom_ops/top_k_ops.cc (see the warning)"


def _cap_vector_isa(monkeypatch, cap):
    """The C++ ops' vector loops run `cap`'s version (or the CPU's best, if lower)."""
    if cap == "best":
        monkeypatch.delenv("VVS_TF_CUSTOM_OPS_ISA", raising=False)
    else:
        monkeypatch.setenv("VVS_TF_CUSTOM_OPS_ISA", cap)


@pytest.fixture(params=["custom_op", "custom_op:avx2", "custom_op:baseline", "stock"])
def selection(request, monkeypatch):
    """Which path top_k takes for dynamic shapes on CPU (the C++ op with its vector loops capped
    at an instruction set, or stock ops); returns that path's sample stride."""
    if request.param == "stock":
        monkeypatch.setattr(top_k, "custom_op", lambda: None)
        return top_k.SAMPLE_STRIDE
    if top_k.custom_op() is None:
        pytest.skip(NO_COMPILER)
    _cap_vector_isa(monkeypatch, request.param.partition(":")[2] or "best")
    return top_k.OP_SAMPLE_STRIDE


@pytest.fixture(params=["best", "avx2", "baseline"])
def vector_isa(request, monkeypatch):
    """The C++ ops with their vector loops capped at an instruction set."""
    if top_k.custom_op() is None:
        pytest.skip(NO_COMPILER)
    _cap_vector_isa(monkeypatch, request.param)


def _numpy_top_sets(scores, k):
    return [set(np.argpartition(-row, k - 1)[:k]) for row in scores]


def _sets(ids):
    return [set(row) for row in np.asarray(ids)]


def test_sampled_path_is_taken_only_for_wide_rows_and_dynamic_shapes():
    assert top_k.uses_sampled_bound(100_000, 4096)
    assert not top_k.uses_sampled_bound(2048, 512)
    assert not top_k.uses_sampled_bound(100_000, 4096, dynamic_shapes=False)


@pytest.mark.parametrize("dynamic_shapes", [True, False])
def test_top_k_ids_equal_numpy_sets(dynamic_shapes, selection):
    scores = np.random.default_rng(0).normal(size=(5, 4096)).astype(np.float32)
    values, ids = top_k.top_k(tf.constant(scores), 64, dynamic_shapes)
    assert ids.shape == (5, 64)
    assert _sets(ids) == _numpy_top_sets(scores, 64)
    np.testing.assert_array_equal(values, np.take_along_axis(scores, ids.numpy(), axis=1))


def test_top_k_ids_include_the_columns_past_the_last_full_vector(selection):
    # 4099 columns: the C++ op reads 16 scores at a time where it can (AVX-512), the last three
    # one by one; the largest scores are planted there.
    scores = np.random.default_rng(6).normal(size=(4, 4099)).astype(np.float32)
    scores[:, -3:] = 50.0 + np.arange(3)
    values, ids = top_k.top_k(tf.constant(scores), 64)
    assert all({4096, 4097, 4098} <= row for row in _sets(ids))
    assert _sets(ids) == _numpy_top_sets(scores, 64)
    np.testing.assert_array_equal(values, np.take_along_axis(scores, ids.numpy(), axis=1))


def test_top_k_ids_exact_when_the_sample_misses_the_top_scores(selection):
    # The stride's sample sees only the phase-0 scores, so the sampled bound is far too high for
    # rows 0 and 1 (fewer than k scores reach it): those rows must be ranked in full.
    stride, width = selection, 8192
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(3, width)).astype(np.float32)
    scores[:2, ::stride] = 10.0 + rng.random((2, width // stride))
    scores[:2, 1::stride] = 20.0 + rng.random((2, width // stride))
    k = width // stride * 2  # the top-k are exactly the two planted phases
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


def test_local_aggregation_on_the_sampled_path_equals_brute_force_and_full_top_k(selection):
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
def test_top_k_values_gradient_equals_that_of_gathering_the_ids(dtype, dynamic_shapes, selection):
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


def test_ties_go_to_the_lower_column_as_in_tf_math_top_k(selection):
    # Integer scores: many ties at the k-th value, which only a tie rule can settle.
    scores = np.random.default_rng(4).integers(0, 6, size=(4, 40_000)).astype(np.float32)
    _, ids = top_k.top_k(tf.constant(scores), 300)
    expected = tf.math.top_k(scores, 300).indices.numpy()
    assert _sets(ids) == _sets(expected)


def test_custom_op_ranks_nan_first_and_rejects_bad_shapes(vector_isa):
    op = top_k.custom_op().vvs_exact_top_k
    scores = np.random.default_rng(5).normal(size=(2, 50_000)).astype(np.float32)
    scores[0, [7, 9000]] = np.nan
    _, ids = op(scores, k=100)
    assert {7, 9000} <= set(ids.numpy()[0])  # a diverged score is never silently dropped
    assert set(ids.numpy()[1]) == _numpy_top_sets(scores[1:], 100)[0]
    with pytest.raises(tf.errors.InvalidArgumentError, match="k=9 exceeds the 8 columns"):
        op(np.zeros((2, 8), np.float32), k=9)
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="rank 2|must be"):
        op(np.zeros((2, 8, 1), np.float32), k=2)


def test_weighted_row_sum_op_equals_numpy_and_is_deterministic(vector_isa):
    op = top_k.custom_op().vvs_weighted_row_sum
    rng = np.random.default_rng(6)
    rows = rng.normal(size=(9000, 24)).astype(np.float32)  # several shards of 4096 rows
    ids = rng.integers(0, 9000, size=(5, 300)).astype(np.int32)
    ids[:, :10] = 17  # a row chosen many times, by every query
    weights = rng.normal(size=(5, 300)).astype(np.float32)
    expected = np.einsum("bk,bkd->bd", weights.astype(np.float64), rows[ids].astype(np.float64))
    sums = op(weights, ids, rows).numpy()
    np.testing.assert_allclose(sums, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(op(weights, ids, rows).numpy(), sums)
    ids[3, 7] = 9000
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"ids\[3, 7\] = 9000 is not a row"):
        op(weights, ids, rows)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_shares_any_label_op_equals_numpy_and_rejects_bad_ids(dtype):
    if top_k.custom_op() is None:
        pytest.skip(NO_COMPILER)
    op = top_k.custom_op().vvs_shares_any_label
    rng = np.random.default_rng(8)
    labels = rng.integers(0, 6, size=(500, 3)).astype(dtype)  # [N, H]: many shared labels
    ids = rng.integers(0, 500, size=(4, 200)).astype(np.int32)
    own = rng.integers(0, 6, size=(4, 3)).astype(dtype)
    own[2] = -1  # shares nothing
    expected = (labels[ids] == own[:, None, :]).any(-1)
    assert 0 < expected.mean() < 1
    np.testing.assert_array_equal(op(labels, ids, own).numpy(), expected)
    assert not op(labels, ids, own).numpy()[2].any()
    ids[1, 5] = -1
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"ids\[1, 5\] = -1 is not a row"):
        op(labels, ids, own)
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="own"):
        op(labels, ids[:, :3], own[:, :2])


def test_top_k_inner_products_match_top_k_of_the_product_with_its_gradient(selection):
    rng = np.random.default_rng(7)
    queries = tf.constant(rng.normal(size=(6, 16)), tf.float32)
    rows = tf.Variable(rng.normal(size=(5000, 16)).astype(np.float32), trainable=False)
    weights = tf.constant(rng.normal(size=(6, 64)), tf.float32)

    with tf.GradientTape(persistent=True) as tape:
        tape.watch([queries, rows])
        values, ids = top_k.top_k_inner_products(queries, rows, 64)
        loss = tf.reduce_sum((values * weights) ** 2)
        gathered = tf.gather(tf.matmul(queries, rows, transpose_b=True), ids, batch_dims=1)
        expected_loss = tf.reduce_sum((gathered * weights) ** 2)
    scores = queries.numpy() @ rows.numpy().T
    assert _sets(ids) == _numpy_top_sets(scores, 64)
    np.testing.assert_allclose(values, gathered, rtol=1e-6)
    np.testing.assert_allclose(tape.gradient(loss, queries), tape.gradient(expected_loss, queries),
                               rtol=1e-5)
    assert tape.gradient(loss, rows) is None  # a memory bank is never trained by gradients
