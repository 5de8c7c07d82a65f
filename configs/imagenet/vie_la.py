"""VIE-LA, 3-D ResNet-18 on 16-frame clips at 112 px, warm-started from VIE-IR
(--config.train.warm_start=<VIE-IR workdir>); data as configs/imagenet/vie_ir.py. LA's ImageNet
clustering and neighbourhoods (10 x 30000 clusters need at least 30000 videos; set
objective.num_clusters for smaller sets)."""
from vvs_tf.config import base_config


def get_config():
    c = base_config("vie_la")
    c.data.source = "frames:/data/kinetics400/train_frames.txt"
    c.data.validation_source = "frames:/data/kinetics400/val_frames.txt"
    c.data.image_size = 112
    c.train.epochs = 200
    c.optimizer.lr_drop_epochs = (160, 190)
    return c
