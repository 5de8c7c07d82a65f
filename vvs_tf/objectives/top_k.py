"""Exact top-k column ids of wide score matrices (LA's background neighbours: k=4096 of a bank of
10^5..10^6 rows), faster on CPU than tf.math.top_k over the whole row.

tf.math.top_k pushes every one of the N scores of a row through a selection heap. Most of them
cannot be among the top k: a strided sample of the row bounds the k-th largest score from below
(its ``k / stride * slack``-th largest sample score), and only the scores above that bound go into
a top_k of width ~k * slack. The result is the exact top-k set. Where the sampled bound is not low
enough for some row (fewer than k scores reach it: rare for any ordering of the bank that is not
periodic in the stride), the step falls back to tf.math.top_k over the full rows, so the answer is
always exact; only its cost varies.

The compaction has data-dependent shapes, which XLA cannot compile; ``dynamic_shapes=False`` (what
a jit-compiled step passes) uses tf.math.top_k directly.
"""
import vvs_tf  # noqa: F401

import numpy as np
import tensorflow as tf

SAMPLE_STRIDE = 16
SLACK = 1.3  # expected scores above the bound / k; the bound misses with probability ~1e-6 a row
MIN_WIDTH_RATIO = 16  # below N / k = 16 a full top_k is as cheap as sampling and compacting


def uses_sampled_bound(num_columns: int, k: int, dynamic_shapes: bool = True) -> bool:
    return dynamic_shapes and num_columns >= MIN_WIDTH_RATIO * k


def top_k_ids(scores, k: int, dynamic_shapes: bool = True):
    """int32 [B, k] column ids of the k largest scores of each row of scores [B, N] (any order).

    Not differentiable: gather the scores with the ids (tf.gather(..., batch_dims=1)) for gradients.
    """
    scores = tf.stop_gradient(scores)

    def full():
        return tf.math.top_k(scores, k, sorted=False).indices

    if not uses_sampled_bound(scores.shape[-1], k, dynamic_shapes):
        return full()
    sample_k = int(np.ceil(k / SAMPLE_STRIDE * SLACK)) + 16
    bound = tf.reduce_min(tf.math.top_k(scores[:, ::SAMPLE_STRIDE], sample_k, sorted=False).values,
                          axis=1, keepdims=True)
    above = scores >= bound
    counts = tf.reduce_sum(tf.cast(above, tf.int32), axis=1)

    def compacted():
        where = tf.where(above)  # [M, 2] (row, column), row-major
        values = tf.RaggedTensor.from_row_lengths(tf.gather_nd(scores, where), counts)
        columns = tf.RaggedTensor.from_row_lengths(tf.cast(where[:, 1], tf.int32), counts)
        best = tf.math.top_k(values.to_tensor(default_value=-np.inf), k, sorted=False).indices
        return tf.gather(columns.to_tensor(), best, batch_dims=1)

    return tf.cond(tf.reduce_min(counts) >= k, compacted, full)
