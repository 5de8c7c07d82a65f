"""Local Aggregation on the embedded world, warm-started from configs/tiny/ir.py's workdir.

Clusters scale with the data: 3 clusterings of 64 clusters of 2048 images, 512 background
neighbours (the paper: 10 x 30000 of 1.28M, 4096).
"""
from vvs_tf.config import base_config, tiny


def get_config():
    c = tiny(base_config("la"))
    # The exact softmax over the 2048-row bank: NCE with a fixed Z is unstable on banks this small
    # (see InstanceRecognition); NCE with 4096 noise rows is the ImageNet recipe.
    c.objective.nce_k = 0
    c.objective.background_k = 512
    c.objective.num_clusterings = 3
    c.objective.num_clusters = 64
    c.train.epochs = 6
    c.optimizer.schedule = "constant"
    return c
