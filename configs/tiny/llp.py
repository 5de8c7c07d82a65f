"""Local Label Propagation on the embedded world with the few-label control's labels (a seeded
3%, about 55 of the 1843 training images), warm-started from configs/tiny/ir.py's workdir
(--config.train.warm_start=runs/ir).

Neighbourhoods as in the paper (10 labelled neighbours, density over 50 bank rows); the bank's
2k rows make the exact softmax of the aggregation term cheap.
"""
from vvs_tf.config import base_config, tiny


def get_config():
    c = tiny(base_config("llp"))
    c.train.epochs = 6
    c.optimizer.schedule = "constant"
    return c
