"""CMC, ResNet-18 L and ab networks on ImageNet (Tian et al. 2019).

The CMC code's defaults: memory-bank NCE with 16384 noise samples, tau 0.07, bank momentum 0.5,
128-d; SGD lr 0.03 momentum 0.9, weight decay 1e-4, batch 128 (as IR in this project), lr x0.1
at epochs 120, 160 and 200 of 240.
"""
from vvs_tf.config import base_config


def get_config():
    c = base_config("cmc")
    c.data.source = "tfds:imagenet2012"
    c.data.image_size = 224
    c.objective.nce_k = 16384
    c.train.batch_size = 128
    c.train.epochs = 240
    c.optimizer.lr = 0.03
    c.optimizer.lr_drop_epochs = (120, 160, 200)
    return c
