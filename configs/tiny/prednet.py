"""PredNet on the embedded world's video stream: 10-frame clips at 32 px of 116 training videos,
4 modules of widths (3, 16, 32, 64), Adam 1e-3 without weight decay as the original."""
from vvs_tf.config import base_config, tiny_video


def get_config():
    c = tiny_video(base_config("prednet"))
    c.model.frames = 10
    c.optimizer.name = "adam"
    c.optimizer.lr = 1e-3
    c.optimizer.weight_decay = 0.0
    c.optimizer.schedule = "constant"
    c.train.epochs = 6
    return c
