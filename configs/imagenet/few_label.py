"""Few-label control, ResNet-18 on ImageNet: supervised training on a seeded 3% of the labels
(38k images), the same recipe as the all-label supervised control (lr 0.1, batch 256, drops at
epochs 30/60/90 of 100)."""
from vvs_tf.config import base_config


def get_config():
    c = base_config("supervised")
    c.data.source = "tfds:imagenet2012"
    c.data.image_size = 224
    c.objective.label_fraction = 0.03
    c.train.batch_size = 256
    c.train.epochs = 100
    c.optimizer.lr = 0.1
    c.optimizer.lr_drop_epochs = (30, 60, 90)
    return c
