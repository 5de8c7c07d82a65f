"""Rotation prediction, ResNet-18 on ImageNet (not in the paper; Gidaris et al., ICLR 2018).

Gidaris et al.'s ImageNet recipe: batches of 192 rotated images (48 images x 4 rotations), SGD
momentum 0.9, lr 0.01 dropped 10x after epochs 10, 20 and 25 of 30, weight decay 5e-4.
"""
from vvs_tf.config import base_config


def get_config():
    c = base_config("rotation")
    c.data.source = "tfds:imagenet2012"
    c.data.image_size = 224
    c.train.batch_size = 48
    c.train.epochs = 30
    c.optimizer.lr = 0.01
    c.optimizer.weight_decay = 5e-4
    c.optimizer.lr_drop_epochs = (10, 20, 25)
    return c
