"""Local Label Propagation, ResNet-18 on ImageNet with a seeded 3% of the labels (the few-label
control's), warm-started from 10 epochs of IR (--config.train.warm_start=<IR workdir>).

The memory-bank family's recipe of REFERENCE.md (batch 128, lr 0.03 dropped 10x near epochs 160
and 190 of 200, tau 0.07, bank momentum 0.5); labels propagate from 10 labelled neighbours with
density weights over 50 bank neighbours, once per epoch.
"""
from vvs_tf.config import base_config


def get_config():
    c = base_config("llp")
    c.data.source = "tfds:imagenet2012"
    c.data.image_size = 224
    c.train.epochs = 200
    c.optimizer.lr_drop_epochs = (160, 190)
    return c
