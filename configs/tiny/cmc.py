"""CMC (L and ab networks) on the embedded world (32 px, width-16 ResNet-18s): CPU minutes.

512 noise samples of the 2048 bank rows (the original: 16384 of 1.28M); tau 0.07, bank momentum
0.5 as in CMC.
"""
from vvs_tf.config import base_config, tiny


def get_config():
    c = tiny(base_config("cmc"))
    c.objective.nce_k = 512
    c.optimizer.schedule = "constant"
    c.train.epochs = 6
    return c
