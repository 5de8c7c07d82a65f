"""Depth prediction on the embedded world's depth maps (32 px, width-16 ResNet-18, up-projection decoder)."""
from vvs_tf.config import base_config, tiny


def get_config():
    c = tiny(base_config("depth"))
    c.data.with_depth = True
    c.train.epochs = 6
    c.optimizer.lr = 0.05
    c.optimizer.schedule = "cosine"
    return c
