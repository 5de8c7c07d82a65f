"""Mean Teacher on the embedded world with the few-label control's labels (a seeded 3%, about 55 of
the 1843 training images), 32 px, width-16 ResNet-18: the consistency weight reaches 10 after 2 of
6 epochs; lr warms up for 1 epoch, then a cosine decay, Nesterov momentum."""
from vvs_tf.config import base_config, tiny


def get_config():
    c = tiny(base_config("mean_teacher"))
    c.train.epochs = 6
    c.objective.consistency_rampup_epochs = 2.0
    c.objective.ema_decay = 0.99  # ~100-step average: the tiny run has ~170 steps
    c.optimizer.lr = 0.05
    c.optimizer.nesterov = True
    c.optimizer.schedule = "cosine"
    c.optimizer.warmup_epochs = 1
    return c
