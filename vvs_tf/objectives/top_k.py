"""Exact top-k of wide score matrices (LA's background neighbours: k=4096 of a bank of 10^5..10^6
rows), faster on CPU than tf.math.top_k over the whole row.

tf.math.top_k pushes every one of the N scores of a row through a selection heap. Most of them
cannot be among the top k: a strided sample of the row bounds the k-th largest score from below
(its ``k / stride * slack``-th largest sample score), and only the scores above that bound need to
be ranked. The result is the exact top-k set; where the sampled bound is not low enough for some
row (fewer than k scores reach it: rare for any ordering of the bank that is not periodic in the
stride), that row is ranked in full, so the answer is always exact; only its cost varies.

On CPU this runs as one C++ op (vvs_tf/custom_ops/top_k_ops.cc: one pass per row collects the
candidates, nth_element ranks them). Where that op cannot be built (no compiler), stock ops do the
same: a tf.where compaction of the candidates and a tf.math.top_k over them, about 3x slower
(B=128, N=10^5, k=4096, 2 CPU cores: 60 ms against 20 ms). On GPUs the stock path runs.

The compaction has data-dependent shapes, which XLA cannot compile; ``dynamic_shapes=False`` (what
a jit-compiled step passes) uses tf.math.top_k directly.

The values come out of the selection itself (no second gather from the [B, N] matrix) and carry a
gradient that writes the incoming k values per row into a zero [B, N] matrix (one SparseToDense).
TensorFlow's own gradient of a batched gather, an UnsortedSegmentSum over all B x N positions,
took 66 ms of a LA step at B=128, N=10^5, k=4096 on 2 CPU cores; this one takes 7 ms. Where the
scores are inner products with a memory bank (LA), top_k_inner_products skips that [B, N] matrix
altogether with the C++ ops: the gradient is a weighted sum of the selected bank rows.
"""
import vvs_tf  # noqa: F401

import numpy as np
import tensorflow as tf

from vvs_tf import custom_ops

OP_SAMPLE_STRIDE = 32  # the C++ op's sample: its cost is the sample's nth_element, not a pass
SAMPLE_STRIDE = 16
SLACK = 1.3  # expected scores above the bound / k; the bound misses with probability ~1e-6 a row
WHERE_BLOCKS = 2  # the CPU threads that compact the candidates (see _where_by_row_blocks)
MIN_WIDTH_RATIO = 16  # below N / k = 16 a full top_k is as cheap as sampling and compacting


def uses_sampled_bound(num_columns: int, k: int, dynamic_shapes: bool = True) -> bool:
    return dynamic_shapes and num_columns >= MIN_WIDTH_RATIO * k


def top_k(scores, k: int, dynamic_shapes: bool = True, use_custom_ops: bool = True):
    """(values, ids), each [B, k]: the k largest scores of each row of scores [B, N] (any order)
    and their column ids (int32). The values are differentiable with respect to scores.
    use_custom_ops=False takes stock ops even where the C++ op is built (for comparisons)."""
    values, ids = _select(tf.stop_gradient(scores), k, dynamic_shapes, use_custom_ops)
    return _with_sparse_gradient(scores, values, ids), ids


def top_k_inner_products(queries, rows, k: int, dynamic_shapes: bool = True,
                         use_custom_ops: bool = True):
    """(values, ids), each [B, k]: the k largest entries of each row of queries @ rows^T, as
    top_k of that product. The values are differentiable with respect to queries only: `rows`
    is a memory bank, which no gradient trains.

    With the C++ ops the gradient is their weighted row sum (each selected bank row read once)
    instead of a [B, N] gradient matrix and its [B, N] x [N, D] matmul: about 38 -> 18 ms at
    B=128, N=10^5, k=4096, D=128 on 2 CPU cores. use_custom_ops=False takes stock ops (for
    comparisons)."""
    rows = tf.stop_gradient(tf.convert_to_tensor(rows))
    library = ops_for(dynamic_shapes, use_custom_ops)
    if library is None:
        return top_k(tf.matmul(queries, rows, transpose_b=True), k, dynamic_shapes, use_custom_ops)
    scores = tf.matmul(tf.stop_gradient(queries), rows, transpose_b=True)
    values, ids = select_by_custom_op(scores, k, library)

    @tf.custom_gradient
    def attach(queries):
        def grad(upstream):
            sums = library.vvs_weighted_row_sum(tf.cast(upstream, tf.float32), ids,
                                                tf.cast(rows, tf.float32))
            return tf.cast(sums, queries.dtype)

        return tf.identity(values), grad

    return attach(queries), ids


def ops_for(dynamic_shapes: bool = True, use_custom_ops: bool = True):
    """custom_op() where a call may use it: dynamic shapes (an XLA-compiled step cannot call the
    ops) and not turned off by the caller; else None."""
    return custom_op() if dynamic_shapes and use_custom_ops else None


def custom_op():
    """The library of the C++ ops where it could be built, on machines without a GPU (the ops have
    no GPU kernels, and with a GPU the scores live there); else None."""
    if tf.config.list_logical_devices("GPU"):
        return None
    return custom_ops.load("top_k_ops")


def _select(scores, k, dynamic_shapes, use_custom_ops):
    library = ops_for(dynamic_shapes, use_custom_ops)
    if library is not None:
        return select_by_custom_op(scores, k, library)
    if uses_sampled_bound(scores.shape[-1], k, dynamic_shapes):
        return select_by_stock_ops(scores, k)
    return select_full(scores, k)


def select_full(scores, k):
    """(values, ids) of tf.math.top_k over whole rows."""
    best = tf.math.top_k(scores, k, sorted=False)
    return best.values, best.indices


def select_by_custom_op(scores, k, library):
    """(values, ids) from VvsExactTopK of `library` (custom_op())."""
    values, ids = library.vvs_exact_top_k(tf.cast(scores, tf.float32), k=k,
                                          sample_stride=OP_SAMPLE_STRIDE, slack=SLACK)
    return tf.cast(values, scores.dtype), ids  # exact: the values are scores, widened


def select_by_stock_ops(scores, k):
    """(values, ids) through the sampled bound with stock ops: a tf.where compaction of the
    candidates and a top_k over them; whole rows where the bound misses for any row."""
    sample_k = int(np.ceil(k / SAMPLE_STRIDE * SLACK)) + 16
    bound = tf.reduce_min(tf.math.top_k(scores[:, ::SAMPLE_STRIDE], sample_k, sorted=False).values,
                          axis=1, keepdims=True)
    where = _where_by_row_blocks(scores >= bound)  # [M, 2] (row, column), row-major
    # Row r's entries are where[splits[r]:splits[r + 1]]; a binary search, not a pass over [B, N].
    splits = tf.searchsorted(where[:, 0], tf.range(tf.shape(scores, tf.int64)[0] + 1))

    def compacted():
        values = tf.RaggedTensor.from_row_splits(tf.gather_nd(scores, where), splits)
        columns = tf.RaggedTensor.from_row_splits(tf.cast(where[:, 1], tf.int32), splits)
        best = tf.math.top_k(values.to_tensor(default_value=-np.inf), k, sorted=False)
        return best.values, tf.gather(columns.to_tensor(), best.indices, batch_dims=1)

    return tf.cond(tf.reduce_min(splits[1:] - splits[:-1]) >= k, compacted,
                   lambda: select_full(scores, k))


def _where_by_row_blocks(mask, blocks: int = WHERE_BLOCKS):
    """tf.where(mask) for a [B, N] mask, as `blocks` independent row blocks: TensorFlow's Where
    writes its indices on one thread, so the blocks run side by side."""
    rows = mask.shape[0]
    if rows is None or rows < 2 * blocks:
        return tf.where(mask)
    bounds = np.linspace(0, rows, blocks + 1).astype(int)
    return tf.concat([tf.where(mask[lo:hi]) + tf.constant([lo, 0], tf.int64)
                      for lo, hi in zip(bounds[:-1], bounds[1:])], axis=0)


def _with_sparse_gradient(scores, values, ids):
    """`values` (= scores at `ids`, unique within each row) as a function of `scores` whose
    gradient is the incoming gradient at those ids and zero elsewhere."""
    @tf.custom_gradient
    def attach(scores):
        def grad(upstream):
            num_columns = tf.shape(scores, out_type=tf.int64)[1]
            rows = tf.range(tf.shape(ids, out_type=tf.int64)[0])[:, None]
            flat_ids = tf.reshape(rows * num_columns + tf.cast(ids, tf.int64), [-1])
            # Unique ids: a plain scatter of k values per row, no summation over duplicates.
            dense = tf.raw_ops.SparseToDense(
                sparse_indices=flat_ids, output_shape=tf.reshape(tf.size(scores, tf.int64), [1]),
                sparse_values=tf.reshape(upstream, [-1]),
                default_value=tf.zeros([], upstream.dtype), validate_indices=False)
            return tf.reshape(dense, tf.shape(scores))

        return tf.identity(values), grad

    return attach(scores)
