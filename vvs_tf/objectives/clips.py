"""What makes an objective a video one: clips [B, T, H, W, 3] in (the batch's "clip"), a video
backbone whose read-outs are [B, T', H', W', C], heads that pool its last read-out averaged over
time, and an evaluated network that averages every read-out over time and takes clips (so exports
are video models and the evaluators show it static stimuli repeated over time)."""
import vvs_tf  # noqa: F401

import tensorflow as tf

from vvs_tf.models.readouts import time_averaged


class ClipInput:
    """Mixin before the objective class: `class VIE(ClipInput, InstanceRecognition)`."""

    input_key = "clip"
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
