"""Contrastive Predictive Coding on images (van den Oord et al. 2018; Henaff et al. 2019).

Each image is cut (on the device) into a grid x grid layout of overlapping patches (7x7 patches of
64 px every 32 px of a 256-px image at full scale); the backbone embeds every patch to its pooled
last block z[i, j]. A GRU (128 cells) runs down each column, so its state c[i, j] summarises rows
0..i; a linear map W_k of c[i, j] predicts z[i + k, j] for k = 1..K (K = 2). InfoNCE scores each
prediction against every patch embedding of the batch (the true one and all others, from the same and
from other images): loss = mean over predictions of -log softmax_n(pred . z_n)[true].
Negatives are this replica's patches.
"""
import vvs_tf  # noqa: F401

import keras
import tensorflow as tf

from vvs_tf.models.resnet import feature_channels
from vvs_tf.objectives.base import Objective
from vvs_tf.objectives.contrastive import info_nce_loss, replica_offset
from vvs_tf.objectives.memory_bank import gather_global_batch
from vvs_tf.objectives.patches import check_grid, extract_grid, require_any_input_size
from vvs_tf.objectives.registry import register


def cpc_loss(codes, predictions):
    """InfoNCE of row-ahead predictions.

    Args:
      codes: [B, G, G, D] patch embeddings z of this replica's images.
      predictions: {k: [B, G - k, G, D]} predictions of z[:, k:, :] from the contexts of rows 0..G-k-1.
    Returns:
      (loss, accuracy of picking the true patch among all patches of the global batch).
    """
    codes = tf.cast(codes, tf.float32)
    shape = tf.shape(codes)
    batch, grid = shape[0], shape[1]
    local_codes = tf.reshape(codes, [batch * grid * grid, -1])
    flat_codes = gather_global_batch(local_codes)
    offset = replica_offset(tf.shape(local_codes)[0])
    all_logits, all_positives = [], []
    for k, predicted in sorted(predictions.items()):
        rows = grid - k
        b, i, j = tf.meshgrid(tf.range(batch), tf.range(rows), tf.range(grid), indexing="ij")
        all_positives.append(offset + tf.reshape(b * grid * grid + (i + k) * grid + j, [-1]))
        flat_predicted = tf.reshape(tf.cast(predicted, tf.float32), [batch * rows * grid, -1])
        all_logits.append(tf.matmul(flat_predicted, flat_codes, transpose_b=True))
    return info_nce_loss(tf.concat(all_logits, 0), tf.concat(all_positives, 0))


@register("cpc")
class CPC(Objective):
    """Patch grid -> backbone (pooled) -> column-wise GRU context -> W_k predictions -> InfoNCE."""

    defaults = dict(grid=7, patch_size=64, gap=-32, prediction_steps=2, context_units=128)
    scalar_names = ("accuracy",)

    def __init__(self, backbone, config, data_info, **kwargs):
        super().__init__(backbone, config, data_info, **kwargs)
        cfg = config.objective
        self.grid, self.patch_size, self.gap = int(cfg.grid), int(cfg.patch_size), int(cfg.gap)
        self.steps = int(cfg.prediction_steps)
        check_grid(int(config.data.image_size), self.grid, self.patch_size, self.gap)
        if not 1 <= self.steps < self.grid:
            raise ValueError(f"cpc: prediction_steps={self.steps} must be in 1..grid-1={self.grid - 1}")
        require_any_input_size(config, "cpc", self.patch_size)
        dim = feature_channels(backbone)
        self.context = keras.layers.GRU(int(cfg.context_units), return_sequences=True, name="context")
        self.predictors = [keras.layers.Dense(dim, use_bias=False, name=f"predict_{k}")
                           for k in range(1, self.steps + 1)]

    def build_objective(self):
        self.compute_loss({"image": tf.zeros([1, *self.example_shape()])}, training=False)  # GRU, W_k
        super().build_objective()

    def patch_codes(self, images, training):
        """[B, S, S, C] -> z [B, G, G, D]."""
        patches = extract_grid(images, self.grid, self.patch_size, self.gap)
        flat = tf.reshape(patches, [-1, self.patch_size, self.patch_size, patches.shape[-1]])
        features = self.backbone(flat, training=training)[self.backbone.readout_names[-1]]
        pooled = tf.reduce_mean(features, axis=[1, 2])
        return tf.reshape(pooled, [-1, self.grid, self.grid, pooled.shape[-1]])

    def contexts(self, codes, training):
        """c[b, i, j]: the GRU state after rows 0..i of column j, [B, G, G, units]."""
        columns = tf.reshape(tf.transpose(codes, [0, 2, 1, 3]), [-1, self.grid, codes.shape[-1]])
        states = self.context(columns, training=training)
        states = tf.reshape(states, [-1, self.grid, self.grid, states.shape[-1]])
        return tf.transpose(states, [0, 2, 1, 3])

    def compute_loss(self, batch, training=True):
        codes = self.patch_codes(batch["image"], training)
        contexts = self.contexts(codes, training)
        predictions = {k: predictor(contexts[:, :self.grid - k], training=training)
                       for k, predictor in enumerate(self.predictors, start=1)}
        loss, accuracy = cpc_loss(codes, predictions)
        return loss, {"accuracy": accuracy}, None
