"""Few-label control on the embedded world: supervised training on a seeded 3% of the labels
(about 55 of the 1843 training images), 32 px, width-16 ResNet-18; batches of 16 so that the labelled
images fill a few batches."""
from vvs_tf.config import base_config, tiny


def get_config():
    c = tiny(base_config("supervised"))
    c.objective.label_fraction = 0.03
    c.train.batch_size = 16
    c.train.epochs = 6
    c.optimizer.lr = 0.05
    c.optimizer.schedule = "cosine"
    return c
