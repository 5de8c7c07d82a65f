"""Depth prediction, ResNet-18 on PBRNet (0.4M synthetic indoor RGB-D renders), up-projection decoder
(256, 128, 64, 32 channels), L2 against per-image normalised depth.

Data: PBRNet (or any RGB-D set) laid out as <root>/rgb/<stem>.png|jpg and <root>/depth/<stem>.png|npy
(vvs_tf.data.depth_pairs), here under data/pbrnet/{train,validation}, read at 224 px.
unsup_vvs `res18_dp_pbr`: lr 0.1, batch 64, weight decay 1e-4, drops at steps 640k, 1.0M and 1.54M,
i.e. epochs 102, 160 and 246 at 6250 steps per epoch of 0.4M images. Its optimizer flag selects Adam
in the GPU trainer, which at lr 0.1 we take to be a slip; SGD with momentum 0.9 is chosen here, and
270 epochs in all.
"""
from vvs_tf.config import base_config


def get_config():
    c = base_config("depth")
    c.data.source = "depth_pairs:data/pbrnet/{split}"
    c.data.image_size = 224
    c.train.batch_size = 64
    c.train.epochs = 270
    c.optimizer.lr = 0.1
    c.optimizer.lr_drop_epochs = (102, 160, 246)
    return c
