"""Instance Recognition on the embedded world (32 px, width-16 ResNet-18): a CPU-minutes run."""
from vvs_tf.config import base_config, tiny


def get_config():
    c = tiny(base_config("ir"))
    c.objective.nce_k = 512
    c.train.epochs = 6
    c.optimizer.schedule = "constant"
    return c
