"""AutoEncoder: the backbone encodes an image to a 128-d hidden vector, a mirrored ResNet decodes it.

Loss = mean squared pixel error between the [0, 1] image and its reconstruction
+ l1_weight * L1 norm of the hidden vector (both averaged over the batch). The sparsity term keeps
the 128-d code from becoming a dense copy of the pixels (unsup_vvs "ae_l1": weight 1e-4).
"""
import vvs_tf  # noqa: F401

import keras
import tensorflow as tf

from vvs_tf.models import uses_patch_kernel_grad
from vvs_tf.models.decoders import mirrored_resnet_decoder
from vvs_tf.objectives.base import Objective
from vvs_tf.objectives.registry import register


def autoencoder_loss(images, reconstruction, hidden, l1_weight: float):
    """mean_b [mean_pixels (x - x_hat)^2] + l1_weight * mean_b sum_d |h_d|; returns (loss, mse, l1)."""
    error = tf.cast(reconstruction, tf.float32) - tf.cast(images, tf.float32)
    mse = tf.reduce_mean(tf.square(error))
    l1 = tf.reduce_mean(tf.reduce_sum(tf.abs(tf.cast(hidden, tf.float32)), axis=-1))
    return mse + l1_weight * l1, mse, l1


@register("autoencoder")
class AutoEncoder(Objective):
    """ResNet encoder -> pooled last block -> dense(code_dim) -> mirrored ResNet decoder -> image."""

    defaults = dict(code_dim=128, l1_weight=1e-4)
    scalar_names = ("reconstruction_mse", "hidden_l1")

    def __init__(self, backbone, config, data_info, **kwargs):
        super().__init__(backbone, config, data_info, **kwargs)
        cfg = config.objective
        self.l1_weight = float(cfg.l1_weight)
        self.code = keras.layers.Dense(int(cfg.code_dim), name="code")
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.decoder = mirrored_resnet_decoder(
            int(cfg.code_dim), int(config.data.image_size), width=int(config.model.width),
            depth=int(config.model.depth),
            patch_kernel_grad=uses_patch_kernel_grad(config.model))

    def encode(self, images, training=False):
        features = self.backbone(images, training=training)[self.backbone.readout_names[-1]]
        return self.code(self.pool(features))

    def build_objective(self):
        self.decoder(self.encode(tf.zeros([1, *self.example_shape()])))  # heads first: call() skips them
        super().build_objective()

    def compute_loss(self, batch, training=True):
        images = batch["image"]
        hidden = self.encode(images, training=training)
        reconstruction = self.decoder(hidden, training=training)
        loss, mse, l1 = autoencoder_loss(images, reconstruction, hidden, self.l1_weight)
        return loss, {"reconstruction_mse": mse, "hidden_l1": l1}, None
