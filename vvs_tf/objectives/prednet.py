"""PredNet (Lotter, Kreiman & Cox, ICLR 2017): trained to predict each next frame of a clip. The
loss is the mean of each module's error units, weighted per module (the original's "L_0": the
pixel errors only) and averaged over the frames after the first (which has nothing to be predicted
from). The network is vvs_tf.models.prednet; its 12 A/R/E read-outs are evaluated averaged over
time, like every video network's (vvs_tf.objectives.clips).
"""
import vvs_tf  # noqa: F401

import tensorflow as tf

from vvs_tf.objectives.base import Objective
from vvs_tf.objectives.clips import ClipInput
from vvs_tf.objectives.registry import register


def prediction_loss(errors, layer_weights):
    """sum_l w_l * mean(E_l[:, 1:]) over the modules' error units [B, T, h, w, c]."""
    terms = [weight * tf.reduce_mean(tf.cast(error[:, 1:], tf.float32))
             for error, weight in zip(errors, layer_weights) if weight]
    return tf.add_n(terms)


@register("prednet")
class PredNet(ClipInput, Objective):
    """Next-frame prediction by a 4-module PredNet (width 48: the original's KITTI network)."""

    view = "crop_flip"  # geometry only: the targets are the frames' own pixels
    model_defaults = dict(kind="prednet", depth=4, width=48, frames=10, input_size=128)
    defaults = dict(layer_loss_weights=(1.0, 0.0, 0.0, 0.0))
    scalar_names = ("pixel_error",)  # mean |frame - prediction| units of module 0

    def __init__(self, backbone, config, data_info, **kwargs):
        super().__init__(backbone, config, data_info, **kwargs)
        weights = tuple(float(w) for w in config.objective.layer_loss_weights)
        modules = int(config.model.depth)
        if len(weights) != modules or min(weights) < 0 or not any(weights):
            raise ValueError(f"objective.layer_loss_weights must be {modules} non-negative weights "
                             f"(one per module, model.depth), not all 0; got {weights}")
        self.layer_weights = weights
        self.error_names = [f"module{m}.E" for m in range(modules)]
        self.top_representation = f"module{modules - 1}.R"

    def embed(self, clips, training=False):
        """The top module's representation, averaged over time and space (kNN monitor)."""
        top = self.backbone(clips, training=training)[self.top_representation]
        return tf.math.l2_normalize(tf.reduce_mean(tf.cast(top, tf.float32), [1, 2, 3]), -1)

    def compute_loss(self, batch, training=True):
        outputs = self.backbone(batch[self.input_key], training=training)
        errors = [outputs[name] for name in self.error_names]
        pixel_error = tf.reduce_mean(tf.cast(errors[0][:, 1:], tf.float32))
        return prediction_loss(errors, self.layer_weights), {"pixel_error": pixel_error}, None
