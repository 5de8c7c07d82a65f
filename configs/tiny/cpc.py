"""CPC on 64-px embedded-world renders: 7x7 grid of 16-px patches every 8 px (the full-scale 64 of
256 px, scaled by 1/4), width-16 ResNet-18 patch encoder, GRU of 128 cells, K=2 rows ahead.

Adam at lr 1e-3 (the paper's 2e-4 moves a tiny run too little in a few minutes); batch 32 images =
1568 patches per step.
"""
from vvs_tf.config import base_config, tiny


def get_config():
    c = tiny(base_config("cpc"))
    c.data.world_image_size = 64
    c.data.image_size = 64
    c.model.input_size = None
    c.objective.patch_size = 16
    c.objective.gap = -8
    c.train.batch_size = 32
    c.train.epochs = 4
    c.optimizer.name = "adam"
    c.optimizer.lr = 1e-3
    c.optimizer.schedule = "constant"
    return c
