"""Mean Teacher, ResNet-18 on ImageNet with a seeded 3% of the labels (the few-label control's).

REFERENCE.md: EMA decay 0.9997, consistency weight up to 10 with a sigmoid ramp-up, Nesterov
momentum, a linear lr ramp-up then a cosine ramp-down. Not given there, chosen here: the 5-epoch
consistency ramp-up (the original's ImageNet run), 2 lr ramp-up epochs, and batch 256, lr 0.1 and
weight decay 1e-4 as in the supervised controls. Labelled images are not over-sampled in batches.
"""
from vvs_tf.config import base_config


def get_config():
    c = base_config("mean_teacher")
    c.data.source = "tfds:imagenet2012"
    c.data.image_size = 224
    c.train.batch_size = 256
    c.train.epochs = 60
    c.optimizer.lr = 0.1
    c.optimizer.nesterov = True
    c.optimizer.schedule = "cosine"
    c.optimizer.warmup_epochs = 2
    return c
