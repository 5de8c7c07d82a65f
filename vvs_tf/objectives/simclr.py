"""SimCLR (Chen et al. 2020): two augmented views of each image, a 2-layer MLP projection head and
the NT-Xent loss over the 2N projections of the global batch (negatives from every replica)."""
import vvs_tf  # noqa: F401

import tensorflow as tf

from vvs_tf.models.heads import mlp_head
from vvs_tf.models.resnet import feature_channels
from vvs_tf.objectives.base import Objective
from vvs_tf.objectives.contrastive import nt_xent_loss, synchronize_batchnorm, two_views
from vvs_tf.objectives.registry import register


def projection_head(backbone, config, name):
    """The SimCLR / MoCo v2 head: pool -> dense(C) -> BN -> ReLU -> dense(dim) -> L2, with the
    hidden width equal to the backbone's feature channels as in both papers; its BN follows the
    backbone's `model.sync_batchnorm` (SimCLR's global BN)."""
    channels = feature_channels(backbone)
    head = mlp_head(channels, channels, int(config.objective.dim), name=name)
    synchronize_batchnorm(head, bool(config.model.get("sync_batchnorm", False)))
    return head


def positive_temperature(config) -> float:
    temperature = float(config.objective.temperature)
    if temperature <= 0.0:
        raise ValueError(f"objective.temperature must be positive, got {temperature}")
    return temperature


@register("simclr")
class SimCLR(Objective):
    """Backbone -> MLP head -> unit 128-d projections of two views; NT-Xent at `temperature`.

    SimCLR uses LARS, large batches and global BatchNorm (`model.sync_batchnorm=True`), which the
    configs set. The kNN monitor uses the pooled backbone features (the head is dropped)."""

    view = "simclr"
    num_views = 2
    defaults = dict(dim=128, temperature=0.1)
    scalar_names = ("contrast_accuracy",)  # fraction of anchors whose partner has the top logit

    def __init__(self, backbone, config, data_info, **kwargs):
        super().__init__(backbone, config, data_info, **kwargs)
        self.temperature = positive_temperature(config)
        self.head = projection_head(backbone, config, "projection_head")

    def project(self, images, training=False):
        features = self.backbone(images, training=training)[self.backbone.readout_names[-1]]
        return self.head(features, training=training)

    def compute_loss(self, batch, training=True):
        # Both views in one pass, so BatchNorm sees the 2n images together as in SimCLR.
        z = self.project(tf.concat(two_views(batch), axis=0), training=training)
        z_a, z_b = tf.split(z, 2, axis=0)
        loss, accuracy = nt_xent_loss(z_a, z_b, self.temperature)
        return loss, {"contrast_accuracy": accuracy}, None
