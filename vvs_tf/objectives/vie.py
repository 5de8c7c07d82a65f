"""Video Instance Embedding (Zhuang et al., CVPR 2020): the memory-bank objectives on 16-frame
clips through a 3-D ResNet-18, one bank row per video. VIE-IR learns to tell videos apart; VIE-LA
(warm-started from VIE-IR, as LA from IR) aggregates each clip with the videos that share its
clusters.

Only the video ("dynamic") pathway is built here; the paper's two-pathway VIE model concatenates
it with a 2-D network along channels at each read-out point. Clip input, time averages and the
evaluated network: vvs_tf.objectives.clips.
"""
import vvs_tf  # noqa: F401

from vvs_tf.objectives.clips import ClipInput
from vvs_tf.objectives.instance_recognition import InstanceRecognition
from vvs_tf.objectives.local_aggregation import LocalAggregation
from vvs_tf.objectives.registry import register

# VIE's network: a 3-D ResNet-18 on 16-frame clips (at 112 px in the paper).
VIDEO_RESNET = dict(kind="resnet3d", frames=16, input_size=112)


@register("vie_ir")
class VideoInstanceRecognition(ClipInput, InstanceRecognition):
    """IR over videos: each clip's embedding against the bank row of its video."""

    model_defaults = VIDEO_RESNET


@register("vie_la")
class VideoLocalAggregation(ClipInput, LocalAggregation):
    """LA over videos: background neighbours and clusters are videos."""

    model_defaults = VIDEO_RESNET
