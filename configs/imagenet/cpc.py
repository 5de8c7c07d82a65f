"""CPC, ResNet-18 on ImageNet: 7x7 grid of 64-px patches every 32 px of 256-px crops, GRU context
(128 cells), predictions K=2 rows ahead, InfoNCE against the batch's other patches.

Adam lr 2e-4 (epsilon 1e-8), batch 128, weight decay 1e-4, constant rate (REFERENCE; unsup_vvs
`res18_cpc_imagenet`). 100 epochs is chosen.
"""
from vvs_tf.config import base_config


def get_config():
    c = base_config("cpc")
    c.data.source = "tfds:imagenet2012"
    c.data.image_size = 256
    c.model.input_size = None
    c.train.batch_size = 128
    c.train.epochs = 100
    c.optimizer.name = "adam"
    c.optimizer.lr = 2e-4
    c.optimizer.epsilon = 1e-8
    c.optimizer.schedule = "constant"
    return c
