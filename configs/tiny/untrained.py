"""The untrained tiny ResNet-18 (negative control)."""
from vvs_tf.config import base_config, tiny


def get_config():
    c = tiny(base_config("untrained"))
    c.train.epochs = 0
    return c
