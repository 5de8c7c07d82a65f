"""Instance Recognition on the embedded world (32 px, width-16 ResNet-18): a CPU-minutes run."""
from vvs_tf.config import base_config, tiny


def get_config():
    c = tiny(base_config("ir"))
    # The exact softmax over the 2048-row bank: NCE with a fixed Z is unstable on banks this small
    # (see InstanceRecognition); NCE with 4096 noise rows is the ImageNet recipe.
    c.objective.nce_k = 0
    c.train.epochs = 6
    c.optimizer.schedule = "constant"
    return c
