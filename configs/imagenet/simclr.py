"""SimCLR, ResNet-18 on ImageNet (Chen et al. 2020).

The paper's recipe: batch 4096, LARS with lr = 0.3 * batch / 256 = 4.8, trust coefficient 1e-3,
momentum 0.9, weight decay 1e-6, 10 warm-up epochs then cosine decay, temperature 0.1, global
BatchNorm, 2-layer MLP head to 128-d. 100 epochs is SimCLR's own default for its ablations (the
unsup_vvs paper does not give SimCLR's schedule).
"""
from vvs_tf.config import base_config


def get_config():
    c = base_config("simclr")
    c.data.source = "tfds:imagenet2012"
    c.data.image_size = 224
    c.model.sync_batchnorm = True
    c.objective.temperature = 0.1
    c.optimizer.name = "lars"
    c.optimizer.lr = 4.8
    c.optimizer.momentum = 0.9
    c.optimizer.weight_decay = 1e-6
    c.optimizer.schedule = "cosine"
    c.optimizer.warmup_epochs = 10
    c.train.batch_size = 4096
    c.train.epochs = 100
    return c
