"""AutoEncoder on the embedded world (32 px, width-16 ResNet-18, 128-d code): a CPU-minutes run."""
from vvs_tf.config import base_config, tiny


def get_config():
    c = tiny(base_config("autoencoder"))
    c.train.epochs = 6
    c.optimizer.lr = 0.1  # the paper's rate
    c.optimizer.schedule = "cosine"
    return c
