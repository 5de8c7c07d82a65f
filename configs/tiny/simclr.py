"""SimCLR on the embedded world (32 px, width-16 ResNet-18): a CPU-minutes run.

LARS as in SimCLR, with its square-root rule for small batches: lr = 0.075 * sqrt(64) = 0.6;
weight decay 1e-6, cosine schedule after one warm-up epoch. Temperature 0.2 is a choice inside
the paper's 0.1-0.5 range.
"""
from vvs_tf.config import base_config, tiny


def get_config():
    c = tiny(base_config("simclr"))
    c.model.sync_batchnorm = True  # SimCLR's global BN (only matters on several replicas)
    c.objective.temperature = 0.2
    c.optimizer.name = "lars"
    c.optimizer.lr = 0.6
    c.optimizer.weight_decay = 1e-6
    c.optimizer.schedule = "cosine"
    c.optimizer.warmup_epochs = 1
    c.train.epochs = 6
    return c
