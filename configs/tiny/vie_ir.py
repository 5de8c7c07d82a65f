"""VIE-IR on the embedded world's video stream: 16-frame clips at 32 px of 116 training videos
(24 frames each, 12 more held out), a width-16 3-D ResNet-18, one bank row per video."""
from vvs_tf.config import base_config, tiny_video


def get_config():
    c = tiny_video(base_config("vie_ir"))
    c.objective.nce_k = 0  # the exact softmax: NCE's 4096 noise rows would outnumber the videos
    c.train.epochs = 6
    c.optimizer.schedule = "constant"
    return c
