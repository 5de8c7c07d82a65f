"""Supervised categorization of the embedded world's 8 categories (positive control)."""
from vvs_tf.config import base_config, tiny


def get_config():
    c = tiny(base_config("supervised"))
    c.train.epochs = 6
    c.optimizer.lr = 0.1
    c.optimizer.schedule = "cosine"
    return c
