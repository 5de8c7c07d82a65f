"""PredNet, full scale: the original's KITTI network (4 modules of widths 3, 48, 96, 192; 10-frame
clips; Adam without weight decay, lr 1e-3 dropped 10x at epoch 75 of 150; the "L_0" loss on pixel
errors) on 128-px clips of a frame-folder video set: --config.data.source=frames:<train metafile>
--config.data.validation_source=frames:<validation metafile>. The original's epochs were 500
clips in batches of 4; here an epoch is a pass over the videos, in batches of 64."""
from vvs_tf.config import base_config


def get_config():
    c = base_config("prednet")
    c.data.source = "frames:/data/kinetics400/train_frames.txt"
    c.data.validation_source = "frames:/data/kinetics400/val_frames.txt"
    c.data.image_size = 128
    c.optimizer.name = "adam"
    c.optimizer.lr = 1e-3
    c.optimizer.weight_decay = 0.0
    c.optimizer.schedule = "step"
    c.optimizer.lr_drop_epochs = (75,)
    c.train.batch_size = 64
    c.train.epochs = 150
    return c
