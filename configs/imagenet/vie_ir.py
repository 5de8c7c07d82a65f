"""VIE-IR, 3-D ResNet-18 on 16-frame clips at 112 px of a frame-folder video set (Kinetics-400 in
the VIE paper, SAYCam in the PNAS paper): --config.data.source=frames:<train metafile>
--config.data.validation_source=frames:<validation metafile>. The memory-bank recipe of
REFERENCE.md (NCE with 4096 noise rows, tau 0.07, bank momentum 0.5, lr 0.03, batch 128)."""
from vvs_tf.config import base_config


def get_config():
    c = base_config("vie_ir")
    c.data.source = "frames:/data/kinetics400/train_frames.txt"
    c.data.validation_source = "frames:/data/kinetics400/val_frames.txt"
    c.data.image_size = 112
    c.train.epochs = 10  # the warm start of VIE-LA, as IR's 10 epochs for LA
    return c
