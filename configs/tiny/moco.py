"""MoCo v2 on the embedded world (32 px, width-16 ResNet-18): a CPU-minutes run.

The queue scales with the data: 1024 keys (16 global batches of 64, half the 2048 images; the
paper: 65536 of 1.28M). Key momentum 0.99 instead of 0.999 so the key encoder follows within the
few hundred steps of the run (MoCo's ablation shows 0.99 still works). Other values as MoCo v2.
"""
from vvs_tf.config import base_config, tiny


def get_config():
    c = tiny(base_config("moco"))
    c.objective.queue_size = 1024
    c.objective.key_momentum = 0.99
    c.optimizer.schedule = "cosine"
    c.train.epochs = 6
    return c
