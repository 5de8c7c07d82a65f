"""AutoEncoder, ResNet-18 on ImageNet: 128-d code with L1 weight 1e-4, mirrored ResNet-18 decoder.

SGD lr 0.1, batch 128, weight decay 1e-4 (REFERENCE; unsup_vvs `res18_ae_s0`). That run dropped the
rate 10x at steps 660k and 1.1M of 1.21M, i.e. epochs 66 and 110 of 121 at 10009 steps per epoch.
"""
from vvs_tf.config import base_config


def get_config():
    c = base_config("autoencoder")
    c.data.source = "tfds:imagenet2012"
    c.data.image_size = 224
    c.train.batch_size = 128
    c.train.epochs = 121
    c.optimizer.lr = 0.1
    c.optimizer.lr_drop_epochs = (66, 110)
    return c
