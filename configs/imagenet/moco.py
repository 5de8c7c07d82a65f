"""MoCo v2, ResNet-18 on ImageNet (Chen et al. 2020, "Improved baselines").

MoCo v2's recipe: batch 256, SGD lr 0.03 momentum 0.9, weight decay 1e-4, cosine schedule,
200 epochs, queue K=65536 (a multiple of the global batch), key momentum 0.999, temperature 0.2,
MLP head, SimCLR-style augmentation with blur, shuffle BN.
"""
from vvs_tf.config import base_config


def get_config():
    c = base_config("moco")
    c.data.source = "tfds:imagenet2012"
    c.data.image_size = 224
    c.objective.queue_size = 65536
    c.objective.key_momentum = 0.999
    c.objective.temperature = 0.2
    c.train.batch_size = 256
    c.train.epochs = 200
    c.optimizer.lr = 0.03
    c.optimizer.schedule = "cosine"
    return c
