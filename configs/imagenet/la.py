"""Local Aggregation, ResNet-18 on ImageNet, warm-started from 10 epochs of IR.

H=10 clusterings of 30000 clusters, 4096 background neighbours, lr 0.03 dropped 10x at epochs 160
and 190 (the PyTorch configs). Set --config.train.warm_start=<IR workdir>.
"""
from vvs_tf.config import base_config


def get_config():
    c = base_config("la")
    c.data.source = "tfds:imagenet2012"
    c.data.image_size = 224
    c.train.epochs = 200
    c.optimizer.lr_drop_epochs = (160, 190)
    return c
