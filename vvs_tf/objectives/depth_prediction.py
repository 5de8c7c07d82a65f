"""Depth prediction: an up-projection decoder (Laina et al. 2016) on the backbone's last block
predicts per-pixel depth, scored by L2 against the ground truth normalised per image.

Normalising each depth map to zero mean and unit standard deviation removes the unknown scale and
offset of monocular depth (and the unit of the files: metres, millimetres). Pixels whose depth is
not finite or not positive (holes of real depth sensors, 16-bit PNG zeros) are left out of both the
normalisation and the loss. Batches must carry "depth" [B, S, S], aligned with "image": the embedded
world with ``data.with_depth=True``, or RGB-D folders (:mod:`vvs_tf.data.depth_pairs`); the input
pipeline crops and flips the map with its image.
"""
import vvs_tf  # noqa: F401

import tensorflow as tf

from vvs_tf.models.decoders import up_projection_decoder
from vvs_tf.models.resnet import feature_channels
from vvs_tf.objectives.base import Objective
from vvs_tf.objectives.registry import register


def valid_depth(depth):
    """Pixels with a usable depth value: finite and > 0."""
    return tf.math.is_finite(depth) & (depth > 0)


def normalize_per_image(depth, valid):
    """(depth - mean) / std over each image's valid pixels (population std); 0 at invalid pixels."""
    weight = tf.cast(valid, tf.float32)
    count = tf.maximum(tf.reduce_sum(weight, axis=[1, 2], keepdims=True), 1.0)
    clean = tf.where(valid, depth, 0.0)
    mean = tf.reduce_sum(clean, axis=[1, 2], keepdims=True) / count
    variance = tf.reduce_sum(weight * tf.square(clean - mean), axis=[1, 2], keepdims=True) / count
    return tf.where(valid, (clean - mean) * tf.math.rsqrt(tf.maximum(variance, 1e-12)), 0.0)


def depth_loss(predicted, depth):
    """Mean over images (with any valid pixel) of the mean squared error over valid pixels between
    the prediction [B, H, W] and the per-image normalised depth [B, H, W]."""
    predicted, depth = tf.cast(predicted, tf.float32), tf.cast(depth, tf.float32)
    valid = valid_depth(depth)
    target = normalize_per_image(depth, valid)
    weight = tf.cast(valid, tf.float32)
    count = tf.reduce_sum(weight, axis=[1, 2])
    per_image = tf.reduce_sum(weight * tf.square(predicted - target), axis=[1, 2]) / tf.maximum(count, 1.0)
    has_pixels = tf.cast(count > 0, tf.float32)
    return tf.reduce_sum(per_image * has_pixels) / tf.maximum(tf.reduce_sum(has_pixels), 1.0)


@register("depth")
class DepthPrediction(Objective):
    """Backbone -> up-projection decoder (4 blocks: 4w, 2w, w, w/2 channels) -> depth at input size."""

    defaults = dict(upproj_kernel=5)

    def __init__(self, backbone, config, data_info, **kwargs):
        super().__init__(backbone, config, data_info, **kwargs)
        width = int(config.model.width)
        self.decoder = up_projection_decoder(
            feature_channels(backbone), filters=(4 * width, 2 * width, width, max(1, width // 2)),
            out_channels=1, kernel_size=int(config.objective.upproj_kernel),
            output_size=int(config.data.image_size), name="depth_decoder")

    def predict_depth(self, images, training=False):
        features = self.backbone(images, training=training)[self.backbone.readout_names[-1]]
        return self.decoder(features, training=training)[..., 0]

    def compute_loss(self, batch, training=True):
        if "depth" not in batch:
            raise ValueError("the depth objective needs batches with 'depth' maps: use the embedded world "
                             "with data.with_depth=True or an RGB-D folder source (vvs_tf.data.depth_pairs)")
        loss = depth_loss(self.predict_depth(batch["image"], training), batch["depth"])
        return loss, {}, None
