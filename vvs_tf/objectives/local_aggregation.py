"""Local Aggregation (Zhuang et al., ICCV 2019): pull an embedding towards its close neighbours
(same k-means cluster in any of H clusterings of the bank) among its background neighbours (the
k most similar bank rows)."""
import vvs_tf  # noqa: F401

import numpy as np
import tensorflow as tf

from vvs_tf.objectives import memory_bank, top_k
from vvs_tf.objectives.instance_recognition import InstanceRecognition
from vvs_tf.objectives.registry import register

_MASKED = -1e9  # a finite "minus infinity": keeps gradients finite when no neighbour is close


def local_aggregation_loss(logits, background_k, cluster_labels, index, dynamic_shapes=True):
    """-log(sum_{B∩C} exp(v.m/tau) / sum_B exp(v.m/tau)), averaged over the batch.

    Args:
      logits: [B, N] v_i . bank / tau for the whole bank (read before this step's bank update).
      background_k: size of the background neighbourhood B_i (top-k logits).
      cluster_labels: [H, N] cluster id of every bank row in each of H clusterings.
      index: [B] bank rows of the batch; i is always close to itself (same cluster).
      dynamic_shapes: False inside XLA-compiled steps (see objectives/top_k.py).
    Returns:
      (loss, mean |B_i ∩ C_i|).
    """
    # The gradient flows through the k background logits only.
    background = top_k.top_k(logits, background_k, dynamic_shapes)
    return loss_over_background(*background, cluster_labels, index, dynamic_shapes)


def close_neighbours(background_ids, cluster_labels, index, dynamic_shapes=True):
    """[B, k] bool: whether bank row background_ids[b, j] shares a cluster with example index[b]
    in any of the H clusterings. On CPU the C++ op reads each neighbour's H labels once (5-8 ->
    2.5 ms at B=128, k=4096, H=10) instead of gathering, comparing and reducing [B, k, H]."""
    by_row = tf.transpose(cluster_labels)  # [N, H]: one contiguous row per neighbour to read
    own_clusters = tf.gather(by_row, index)  # [B, H]
    library = top_k.ops_for(dynamic_shapes)
    if library is not None:
        return library.vvs_shares_any_label(by_row, tf.cast(background_ids, tf.int32),
                                            own_clusters)
    neighbour_clusters = tf.gather(by_row, background_ids)  # [B, k, H]
    return tf.reduce_any(tf.equal(neighbour_clusters, own_clusters[:, None, :]), axis=-1)


def loss_over_background(background_logits, background_ids, cluster_labels, index,
                         dynamic_shapes=True):
    """local_aggregation_loss from the [B, k] background logits and their bank rows."""
    close = close_neighbours(background_ids, cluster_labels, index, dynamic_shapes)
    log_background = tf.reduce_logsumexp(background_logits, axis=-1)
    log_close = tf.reduce_logsumexp(tf.where(close, background_logits, _MASKED), axis=-1)
    # The original adds 1e-7 to the probability ratio before the log.
    loss = -tf.reduce_mean(tf.math.log(tf.exp(log_close - log_background) + 1e-7))
    close_count = tf.reduce_mean(tf.reduce_sum(tf.cast(close, tf.float32), axis=-1))
    return loss, close_count


@register("la")
class LocalAggregation(InstanceRecognition):
    """IR's backbone, head and bank with the LA loss; cluster labels are recomputed each epoch by
    vvs_tf.objectives.clustering.ReclusterCallback."""

    # ResNet-18 in the paper: H=10 clusterings of 30000 clusters, 4096 background neighbours.
    defaults = dict(InstanceRecognition.defaults, background_k=4096, num_clusterings=10,
                    num_clusters=30000, kmeans_iterations=20, recluster_overlap_steps=0)
    scalar_names = ("close_neighbours",)  # mean |B_i ∩ C_i|

    def __init__(self, backbone, config, data_info, **kwargs):
        super().__init__(backbone, config, data_info, **kwargs)
        cfg = config.objective
        self.background_k = int(cfg.background_k)
        self.num_clusterings = int(cfg.num_clusterings)
        self.num_clusters = int(cfg.num_clusters)
        if self.background_k > data_info.num_examples:
            raise ValueError(f"objective.background_k={self.background_k} exceeds the number of "
                             f"training examples ({data_info.num_examples})")
        if self.num_clusters > data_info.num_examples:
            raise ValueError(f"objective.num_clusters={self.num_clusters} exceeds the number of "
                             f"training examples ({data_info.num_examples})")
        self.cluster_labels = memory_bank.make_state(
            np.zeros((self.num_clusterings, data_info.num_examples), np.int32), "cluster_labels")

    def compute_loss(self, batch, training=True):
        embeddings = self.embed(batch[self.input_key], training=training)
        # 1/tau scales the [B, D] embeddings, not the [B, N] logits: one pass fewer each way.
        background = top_k.top_k_inner_products(embeddings / self.tau, self.memory_bank,
                                                self.background_k, dynamic_shapes=not self.uses_xla)
        loss, close_count = loss_over_background(*background, self.cluster_labels,
                                                 tf.cast(batch["index"], tf.int64),
                                                 dynamic_shapes=not self.uses_xla)
        return loss, {"close_neighbours": close_count}, embeddings
