"""Relative position, ResNet-18 on ImageNet: 3x3 grid of 56-px patches (gap 20, jitter 6) of 224-px
crops, 8-way classification of the neighbour's position.

SGD lr 0.01, batch 64, weight decay 1e-4 (REFERENCE; unsup_vvs `res18_rp_imagenet`, which dropped
the rate at steps 780k and 1.26M: epochs 39 and 63 at 20018 steps per epoch). 70 epochs in all is
chosen. Patch geometry: see RelativePosition.defaults.
"""
from vvs_tf.config import base_config


def get_config():
    c = base_config("relative_position")
    c.data.source = "tfds:imagenet2012"
    c.data.image_size = 224
    c.model.input_size = None
    c.train.batch_size = 64
    c.train.epochs = 70
    c.optimizer.lr = 0.01
    c.optimizer.lr_drop_epochs = (39, 63)
    return c
