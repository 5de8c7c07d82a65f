"""Colorization on the embedded world (32 px, width-16 ResNet-18 on L; 313 ab bins at 4x4).

Adam at lr 1e-3 (the paper's 1e-5 moves a tiny run too little in a few minutes).
"""
from vvs_tf.config import base_config, tiny


def get_config():
    c = tiny(base_config("colorization"))
    c.train.epochs = 6
    c.optimizer.name = "adam"
    c.optimizer.lr = 1e-3
    c.optimizer.schedule = "constant"
    return c
