"""Colorization, ResNet-18 (1 input channel: L) on ImageNet: 313 ab bins at 1/8 resolution.

Adam lr 1e-5 (epsilon 1e-8), batch 64, weight decay 1e-4, no rate drops (REFERENCE; unsup_vvs
`res18_col_imagenet`). The number of epochs is chosen: 60 epochs = 1.2M steps of 64, the length of
the other unsup_vvs ImageNet runs.
"""
from vvs_tf.config import base_config


def get_config():
    c = base_config("colorization")
    c.data.source = "tfds:imagenet2012"
    c.data.image_size = 224
    c.train.batch_size = 64
    c.train.epochs = 60
    c.optimizer.name = "adam"
    c.optimizer.lr = 1e-5
    c.optimizer.epsilon = 1e-8
    c.optimizer.schedule = "constant"
    return c
