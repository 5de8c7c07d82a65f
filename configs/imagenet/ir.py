"""Instance Recognition, ResNet-18 on ImageNet (Wu et al. 2018; REFERENCE.md section 2)."""
from vvs_tf.config import base_config


def get_config():
    c = base_config("ir")
    c.data.source = "tfds:imagenet2012"
    c.data.image_size = 224
    c.train.epochs = 200
    c.optimizer.lr_drop_epochs = (160, 190)
    return c
