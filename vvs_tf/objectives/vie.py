"""Video Instance Embedding (Zhuang et al., CVPR 2020): the memory-bank objectives on 16-frame
clips through a 3-D ResNet-18, one bank row per video. VIE-IR learns to tell videos apart; VIE-LA
(warm-started from VIE-IR, as LA from IR) aggregates each clip with the videos that share its
clusters.

Only the video ("dynamic") pathway is built here; the paper's two-pathway VIE model concatenates
it with a 2-D network along channels at each read-out point.

The evaluated network takes clips [B, T, H, W, 3] (exports are video models) and averages each
5-D read-out over time; the evaluators show it a static image as that image repeated T times
(REFERENCE.md section 1).
"""
import vvs_tf  # noqa: F401

import keras
import tensorflow as tf

from vvs_tf.objectives.instance_recognition import InstanceRecognition
from vvs_tf.objectives.local_aggregation import LocalAggregation
from vvs_tf.objectives.registry import register


def time_averaged(backbone: keras.Model) -> keras.Model:
    """The video backbone with each read-out [B, T', H', W', C] averaged over time."""
    outputs = {name: keras.layers.Lambda(lambda x: tf.reduce_mean(x, axis=1),
                                         name=f"{name}.time_mean")(backbone.output[name])
               for name in backbone.readout_names}
    model = keras.Model(backbone.input, outputs, name=f"{backbone.name}_time_mean")
    model.readout_names = backbone.readout_names
    return model


class ClipInput:
    """What makes a memory-bank objective a video one: clips in, a 3-D backbone, time averages."""

    input_key = "clip"
    # VIE: 16-frame clips through a 3-D ResNet-18 (at 112 px in the paper).
    model_defaults = dict(kind="resnet3d", frames=16, input_size=112)
    # The embedded world's stream when `data.source=embedded_video`: videos, frames per video.
    data_defaults = dict(num_videos=128, video_frames=24)

    def example_shape(self):
        size = self.config.data.image_size
        return (int(self.config.model.frames), size, size, 3)

    def last_readout(self, clips, training=False):
        features = self.backbone(clips, training=training)[self.backbone.readout_names[-1]]
        return tf.reduce_mean(features, axis=1)

    def activation_network(self):
        return time_averaged(self.backbone)


@register("vie_ir")
class VideoInstanceRecognition(ClipInput, InstanceRecognition):
    """IR over videos: each clip's embedding against the bank row of its video."""


@register("vie_la")
class VideoLocalAggregation(ClipInput, LocalAggregation):
    """LA over videos: background neighbours and clusters are videos."""
