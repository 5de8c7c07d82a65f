"""Parts shared by the batch-contrastive objectives (SimCLR, MoCo): InfoNCE / NT-Xent losses whose
negatives come from the whole global batch, the replica's place in that batch, and BatchNorm
statistics over the global batch.

Distribution: each replica computes its own anchors' losses against the concatenation of every
replica's projections (``memory_bank.gather_global_batch``, an all-reduce of zero-padded blocks
whose gradient, again an all-reduce, reaches the replica that produced each row), so the summed
replica gradients equal the one-device gradient of the mean over the global batch. Like that
gather, this assumes every replica holds the same number of examples (drop_remainder batches).
"""
import vvs_tf  # noqa: F401

import keras
import tensorflow as tf

from vvs_tf.objectives.base import classification_loss
from vvs_tf.objectives.memory_bank import gather_global_batch

_MASKED = -1e9  # a finite "minus infinity" for excluded logits (keeps softmax gradients finite)


def replica_offset(local_size):
    """Position of this replica's first example in the global batch (0 on one device): replica r
    holds rows [r * n, (r + 1) * n) of what gather_global_batch returns."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return tf.constant(0, tf.int32)
    return tf.cast(ctx.replica_id_in_sync_group, tf.int32) * tf.cast(local_size, tf.int32)


def info_nce_loss(logits, positives):
    """InfoNCE: mean over rows of -log softmax(logits)[row, positives[row]] and the top-1 accuracy
    of picking the positive, i.e. classification of the positive among all candidates."""
    return classification_loss(logits, positives)


def nt_xent_logits(anchors, partners_all, same_view_all, offset, temperature):
    """Logits of anchors (view a of this replica) against every example of the global batch.

    Columns [0, N) are the other view (partner of anchor i at column offset + i), columns
    [N, 2N) the same view with the anchor itself masked out: 2N - 2 negatives per anchor.
    """
    local = tf.shape(anchors)[0]
    own = offset + tf.range(local)
    cross = tf.matmul(anchors, partners_all, transpose_b=True) / temperature
    same = tf.matmul(anchors, same_view_all, transpose_b=True) / temperature
    self_mask = tf.cast(tf.one_hot(own, tf.shape(same_view_all)[0]), tf.bool)
    same = tf.where(self_mask, _MASKED, same)
    return tf.concat([cross, same], axis=1), own


def nt_xent_loss(z_a, z_b, temperature):
    """SimCLR's NT-Xent over the 2N projections of the global batch, averaged over this replica's
    2n anchors (both views of each of its examples).

    Args:
      z_a, z_b: [n, d] unit projections of the two views of this replica's n examples.
    Returns:
      (loss, accuracy of finding the partner among the 2N - 1 candidates).
    """
    z_a, z_b = tf.cast(z_a, tf.float32), tf.cast(z_b, tf.float32)
    all_a, all_b = gather_global_batch(z_a), gather_global_batch(z_b)
    offset = replica_offset(tf.shape(z_a)[0])
    logits_a, positives = nt_xent_logits(z_a, all_b, all_a, offset, temperature)
    logits_b, _ = nt_xent_logits(z_b, all_a, all_b, offset, temperature)
    loss_a, hits_a = info_nce_loss(logits_a, positives)
    loss_b, hits_b = info_nce_loss(logits_b, positives)
    return 0.5 * (loss_a + loss_b), 0.5 * (hits_a + hits_b)


def two_views(batch):
    """(view a, view b) [B,H,W,C] of a batch whose "views" are [B,2,H,W,C] (num_views=2)."""
    views = batch.get("views")
    if views is None or views.shape.rank != 5 or views.shape[1] != 2:
        shape = None if views is None else views.shape
        raise ValueError("two-view objectives need batches with 'views' of shape [B,2,H,W,C] "
                         f"(pipeline num_views=2); got views of shape {shape}")
    return views[:, 0], views[:, 1]


def queue_logits(queries, keys, queue, temperature):
    """MoCo's logits [n, 1 + K]: column 0 is q.k+ (the key of the same image), then q.queue."""
    queries, keys = tf.cast(queries, tf.float32), tf.cast(keys, tf.float32)
    positive = tf.reduce_sum(queries * keys, axis=-1, keepdims=True)
    negatives = tf.matmul(queries, queue, transpose_b=True)
    return tf.concat([positive, negatives], axis=1) / temperature


def synchronize_batchnorm(model: keras.Model, synchronized: bool = True):
    """Sets every BatchNormalization layer of `model` to global-batch (cross-replica) statistics.

    For heads built without the option; the backbone takes `config.model.sync_batchnorm`.
    """
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = synchronized
        elif hasattr(layer, "layers"):
            synchronize_batchnorm(layer, synchronized)
