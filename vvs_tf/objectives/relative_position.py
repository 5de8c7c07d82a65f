"""Relative position (Doersch et al., ICCV 2015): where does a patch lie relative to the centre patch?

From a 3x3 grid of gapped, jittered patches of each image (cut on the device), the centre patch and
one of its 8 neighbours (uniformly drawn) go through the shared backbone; their pooled last-block
features are concatenated and an MLP (Doersch et al.'s fc7/fc8) classifies the neighbour's position.
Neighbour labels 0..7 number the grid cells in raster order, skipping the centre.
"""
import vvs_tf  # noqa: F401

import tensorflow as tf

from vvs_tf.models.heads import mlp_head
from vvs_tf.models.resnet import feature_channels
from vvs_tf.objectives.base import Objective
from vvs_tf.objectives.patches import check_grid, extract_grid, require_any_input_size
from vvs_tf.objectives.registry import register
from vvs_tf.objectives.base import classification_loss

CENTRE = 4  # raster index of the centre cell of the 3x3 grid


def pick_pairs(patches, neighbour_labels):
    """[B, 3, 3, P, P, C] patches, labels [B] in 0..7 -> (centre patches, neighbour patches) [B, P, P, C]."""
    shape = tf.shape(patches)
    flat = tf.reshape(patches, tf.concat([[shape[0], 9], shape[3:]], 0))
    labels = tf.cast(neighbour_labels, tf.int32)
    cells = labels + tf.cast(labels >= CENTRE, tf.int32)
    return flat[:, CENTRE], tf.gather(flat, cells, axis=1, batch_dims=1)


@register("relative_position")
class RelativePosition(Objective):
    """Centre + neighbour patch -> shared backbone -> concat pooled features -> MLP -> 8-way softmax."""

    # Chosen for 224-px crops (Doersch et al.: 96-px patches, 48-px gaps, up to 7 px jitter, on
    # images of 150k-450k pixels): 56-px patches, 20-px gaps, 6-px jitter span 220 of 224 px.
    defaults = dict(patch_size=56, gap=20, jitter=6, hidden=4096)
    scalar_names = ("accuracy",)

    def __init__(self, backbone, config, data_info, **kwargs):
        super().__init__(backbone, config, data_info, **kwargs)
        cfg = config.objective
        self.patch_size, self.gap, self.jitter = int(cfg.patch_size), int(cfg.gap), int(cfg.jitter)
        check_grid(int(config.data.image_size), 3, self.patch_size, self.gap, self.jitter)
        require_any_input_size(config, "relative_position", self.patch_size)
        channels = feature_channels(backbone)
        self.head = mlp_head(2 * channels, int(cfg.hidden), 8, normalize=False, pool=False,
                             name="position_head")

    def pair_logits(self, centre, neighbour, training):
        both = tf.concat([centre, neighbour], axis=0)
        features = self.backbone(both, training=training)[self.backbone.readout_names[-1]]
        pooled = tf.reduce_mean(features, axis=[1, 2])
        first, second = tf.split(pooled, 2, axis=0)
        return self.head(tf.concat([first, second], axis=-1), training=training)

    def compute_loss(self, batch, training=True):
        images = batch["image"]
        batch_size = tf.shape(images)[0]
        patches = extract_grid(images, 3, self.patch_size, self.gap, self.jitter, self.step_seed(1))
        labels = tf.random.stateless_uniform([batch_size], self.step_seed(2), 0, 8, dtype=tf.int32)
        centre, neighbour = pick_pairs(patches, labels)
        loss, accuracy = classification_loss(self.pair_logits(centre, neighbour, training), labels)
        return loss, {"accuracy": accuracy}, None
