"""Rotation prediction on the embedded world (32 px, width-16 ResNet-18; 4 x 64 rotated images per step)."""
from vvs_tf.config import base_config, tiny


def get_config():
    c = tiny(base_config("rotation"))
    c.train.epochs = 6
    c.optimizer.lr = 0.05
    c.optimizer.schedule = "cosine"
    return c
