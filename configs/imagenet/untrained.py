"""The untrained ResNet-18 (the negative control): seeded random initialisation, no steps."""
from vvs_tf.config import base_config


def get_config():
    c = base_config("untrained")
    c.data.source = "tfds:imagenet2012"
    c.train.epochs = 0
    return c
