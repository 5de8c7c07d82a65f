"""Rotation prediction (Gidaris et al., ICLR 2018): which of 0/90/180/270 degrees was an image turned?

Every image of the batch is shown in all four rotations (the variant Gidaris et al. found best), made
on the device, and a linear classifier on the pooled last block names the rotation.
"""
import vvs_tf  # noqa: F401

import tensorflow as tf

from vvs_tf.models.heads import classifier_head
from vvs_tf.models.resnet import feature_channels
from vvs_tf.objectives.base import Objective, classification_loss
from vvs_tf.objectives.registry import register


def rotate_four(images):
    """[B, S, S, C] -> ([4B, S, S, C] rotated counter-clockwise by k*90 degrees, k-major; labels k)."""
    images = tf.convert_to_tensor(images)
    if images.shape[1] is not None and images.shape[1] != images.shape[2]:
        raise ValueError(f"rotation needs square images, got shape {images.shape}")
    rotated = tf.concat([tf.image.rot90(images, k) for k in range(4)], axis=0)
    labels = tf.repeat(tf.range(4, dtype=tf.int32), tf.shape(images)[0])
    return rotated, labels


@register("rotation")
class Rotation(Objective):
    """Backbone on the 4 rotations of each image -> pooled last block -> 4-way linear classifier."""

    defaults = dict()
    scalar_names = ("accuracy",)

    def __init__(self, backbone, config, data_info, **kwargs):
        super().__init__(backbone, config, data_info, **kwargs)
        self.classifier = classifier_head(feature_channels(backbone), 4, name="rotation_classifier")

    def compute_loss(self, batch, training=True):
        rotated, labels = rotate_four(batch["image"])
        features = self.backbone(rotated, training=training)[self.backbone.readout_names[-1]]
        loss, accuracy = classification_loss(self.classifier(features, training=training), labels)
        return loss, {"accuracy": accuracy}, None
