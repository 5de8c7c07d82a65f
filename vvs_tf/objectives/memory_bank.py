"""The memory bank shared by IR, LA, LLP and VIE: one unit vector per training example.

The bank is a plain ``tf.Variable`` (not a Keras weight) so that checkpoints, resume and
MirroredStrategy treat it like model state while row updates stay O(batch): every replica gathers
the whole global batch's indices and vectors and applies the identical scatter, so the mirrored
copies never drift apart.
"""
import vvs_tf  # noqa: F401

import numpy as np
import tensorflow as tf


def random_unit_rows(num_rows: int, dim: int, seed: int) -> np.ndarray:
    """Seeded random unit vectors, the bank's initial value."""
    rows = np.random.default_rng(seed).standard_normal((num_rows, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def make_bank(num_rows: int, dim: int, seed: int, name: str = "memory_bank") -> tf.Variable:
    return tf.Variable(
        random_unit_rows(num_rows, dim, seed), trainable=False, name=name,
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
    )


def make_state(initial, name: str, dtype=None) -> tf.Variable:
    """Non-trainable per-example state (labels, cluster ids) kept identical on every replica."""
    return tf.Variable(
        tf.constant(initial, dtype=dtype), trainable=False, name=name,
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
    )


def gather_global_batch(tensor: tf.Tensor) -> tf.Tensor:
    """Concatenates a per-replica tensor over all replicas in replica order (identity on one device).

    Written as a sum-all-reduce of zero-padded blocks rather than ``ReplicaContext.all_gather``,
    which fails inside tf.function under MultiWorkerMirroredStrategy ("destinations can not be
    empty", TF 2.21). The tensors gathered here are a batch of indices or embeddings, so the
    padding costs little. Integers travel as float64, exact below 2**53.
    """
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return tensor
    replicas = ctx.num_replicas_in_sync
    wire = tf.float64 if tensor.dtype.is_integer else tensor.dtype
    block = tf.cast(tensor, wire)[None]  # [1, B, ...]
    position = tf.one_hot(ctx.replica_id_in_sync_group, replicas, dtype=wire)
    padded = tf.reshape(position, [replicas] + [1] * tensor.shape.rank) * block  # [R, B, ...]
    gathered = ctx.all_reduce(tf.distribute.ReduceOp.SUM, padded)
    return tf.cast(tf.reshape(gathered, tf.concat([[-1], tf.shape(tensor)[1:]], 0)), tensor.dtype)


def blended_rows(bank: tf.Variable, indices: tf.Tensor, vectors: tf.Tensor, momentum: float):
    """normalize(m * bank[i] + (1 - m) * v_i): the bank rows after one update."""
    mixed = momentum * tf.gather(bank, indices) + (1.0 - momentum) * tf.cast(vectors, tf.float32)
    return tf.math.l2_normalize(mixed, axis=1)


def update_rows(bank: tf.Variable, indices: tf.Tensor, vectors: tf.Tensor, momentum: float,
                zero_copy_reads: bool = True):
    """Blends the global batch's vectors into their rows (call after the loss read the bank).

    zero_copy_reads: see keep_reads_zero_copy; False inside XLA-compiled steps (no such op there).
    """
    indices = gather_global_batch(tf.cast(indices, tf.int64))
    vectors = gather_global_batch(vectors)
    bank.scatter_update(tf.IndexedSlices(blended_rows(bank, indices, vectors, momentum), indices))
    if zero_copy_reads:
        keep_reads_zero_copy(bank)


def keep_reads_zero_copy(variable: tf.Variable):
    """Takes a variable out of the copy-on-read mode that a scatter puts it in.

    In that mode every read of the whole variable copies it: LA's [B, N] logits read the bank each
    step, 51 MB at 10^5 x 128 rows, 8-11 ms on 2 CPU cores. Out of it, reads share the buffer and
    the next scatter updates in place, or first copies if a read's tensor is still alive, so no
    reader ever sees a half-updated bank.
    """
    tf.raw_ops.DisableCopyOnRead(resource=variable.handle)


def scatter_values(state: tf.Variable, indices: tf.Tensor, values: tf.Tensor):
    """Writes per-example values (e.g. labels seen in the batch) for the global batch."""
    indices = gather_global_batch(tf.cast(indices, tf.int64))
    values = gather_global_batch(tf.cast(values, state.dtype))
    state.scatter_update(tf.IndexedSlices(values, indices))
