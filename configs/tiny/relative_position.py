"""Relative position on 64-px embedded-world renders: 3x3 grid of 18-px patches (gap 2, jitter 2).

The width-16 ResNet-18 takes any input size (patches in training, whole images for kNN); the 8-way
head has 256 hidden units (the paper's 4096 is large for 2 x 128 features).
"""
from vvs_tf.config import base_config, tiny


def get_config():
    c = tiny(base_config("relative_position"))
    c.data.world_image_size = 64
    c.data.image_size = 64
    c.model.input_size = None
    c.objective.patch_size = 18
    c.objective.gap = 2
    c.objective.jitter = 2
    c.objective.hidden = 256
    c.train.epochs = 6
    c.optimizer.lr = 0.01  # the paper's rate
    c.optimizer.schedule = "constant"
    return c
