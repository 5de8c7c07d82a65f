"""Supervised ResNet-18 on all ImageNet labels (the positive control): lr 0.1, drops at 30/60/90."""
from vvs_tf.config import base_config


def get_config():
    c = base_config("supervised")
    c.data.source = "tfds:imagenet2012"
    c.data.image_size = 224
    c.train.batch_size = 256
    c.train.epochs = 100
    c.optimizer.lr = 0.1
    c.optimizer.lr_drop_epochs = (30, 60, 90)
    return c
